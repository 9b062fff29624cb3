// A confirmation prompt's answer. Only "yes" goes ahead (as in Terraform: a stray Enter never changes
// AWS); an answer that looks like yes ("y", "Y", "YES") is told what to type and asked once more.
// Ctrl+D or Ctrl+C at the prompt (readline's question rejects with an AbortError) is a "no": the
// command then says it cancelled and changed nothing, instead of printing the AbortError.
export async function confirmYes(ask: (prompt: string) => Promise<string>, question: string): Promise<boolean> {
  const answer = async (prompt: string): Promise<string> => {
    try {
      return (await ask(prompt)).trim();
    } catch (e) {
      if ((e as Error | undefined)?.name === 'AbortError') return '';
      throw e;
    }
  };
  const first = await answer(`\n${question}\n  Enter a value: `);
  if (first === 'yes') return true;
  if (!/^y(es)?$/i.test(first)) return false;
  return (await answer(`  Type "yes" in full to go ahead (anything else cancels): `)) === 'yes';
}

// A confirmation prompt's answer. Only "yes" goes ahead (as in Terraform: a stray Enter never changes
// AWS); an answer that looks like yes ("y", "Y", "YES") is told what to type and asked once more.
export async function confirmYes(ask: (prompt: string) => Promise<string>, question: string): Promise<boolean> {
  const answer = (await ask(`\n${question}\n  Enter a value: `)).trim();
  if (answer === 'yes') return true;
  if (!/^y(es)?$/i.test(answer)) return false;
  return (await ask(`  Type "yes" in full to go ahead (anything else cancels): `)).trim() === 'yes';
}

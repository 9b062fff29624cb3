// bench/RESULTS.md's sections written by other benchmarks than run.mjs live between markers, so that
// each benchmark rewrites only its own part: bench/fleet.mjs writes the fleet section,
// bench/terraform.mjs the Terraform one; run.mjs keeps both when it rewrites the file.
const markers = (name, by) => [`<!-- ${name}: written by ${by} -->`, `<!-- ${name}: end -->`];
const SECTIONS = { fleet: 'bench/fleet.mjs', terraform: 'bench/terraform.mjs' };

/** `text` with section `name` set to `section` (in place, or appended when there is none yet). */
export function replaceSection(text, name, section) {
  const [BEGIN, END] = markers(name, SECTIONS[name]);
  const block = `${BEGIN}\n${section.trimEnd()}\n${END}`;
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) return text.slice(0, a) + block + text.slice(b + END.length);
  return `${text.trimEnd()}\n\n${block}\n`;
}

/** Section `name` of `text` (the file as it was), or '' when it has none. */
export function sectionOf(text, name) {
  const [BEGIN, END] = markers(name, SECTIONS[name]);
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  return a >= 0 && b > a ? text.slice(a + BEGIN.length, b).trim() : '';
}

export const replaceFleetSection = (text, section) => replaceSection(text, 'fleet', section);

/** A report run.mjs is about to write, with the other benchmarks' sections of the file it replaces kept. */
export function keepFleetSection(oldText, report) {
  let out = report;
  for (const name of Object.keys(SECTIONS)) {
    const section = sectionOf(oldText, name);
    if (section) out = replaceSection(out, name, section);
  }
  return out;
}

// bench/RESULTS.md's fleet section (bench/fleet.mjs) lives between two markers, so that each
// benchmark rewrites only its own part: fleet.mjs replaces the section, run.mjs keeps it.
const BEGIN = '<!-- fleet: written by bench/fleet.mjs -->';
const END = '<!-- fleet: end -->';

/** `text` with the fleet section set to `section` (appended when there is none yet). */
export function replaceFleetSection(text, section) {
  const block = `${BEGIN}\n${section.trimEnd()}\n${END}`;
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) return text.slice(0, a) + block + text.slice(b + END.length);
  return `${text.trimEnd()}\n\n${block}\n`;
}

/** The fleet section of `text` (the file as it was), or '' when it has none. */
export function fleetSectionOf(text) {
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  return a >= 0 && b > a ? text.slice(a + BEGIN.length, b).trim() : '';
}

/** A report run.mjs is about to write, with the fleet section of the file it replaces kept. */
export function keepFleetSection(oldText, report) {
  const section = fleetSectionOf(oldText);
  return section ? replaceFleetSection(report, section) : report;
}

// Whether a named AWS profile exists. The SDK, asked for a profile that is in no file, says only
// "Could not load credentials from any providers": errors.ts names the missing profile instead.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The profile a command uses: --profile (the CLI sets AWS_PROFILE from it) or AWS_PROFILE. */
export const selectedProfile = (): string | undefined => process.env.AWS_PROFILE || process.env.AWS_DEFAULT_PROFILE || undefined;

/** The files the SDK reads profiles from (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, else ~/.aws). */
export function profileFiles(): { config: string; credentials: string } {
  const aws = join(homedir(), '.aws');
  return { config: process.env.AWS_CONFIG_FILE || join(aws, 'config'), credentials: process.env.AWS_SHARED_CREDENTIALS_FILE || join(aws, 'credentials') };
}

const sections = (file: string): string[] =>
  existsSync(file) ? [...readFileSync(file, 'utf8').matchAll(/^\s*\[\s*([^\]]+?)\s*\]/gm)].map((m) => m[1].replace(/^profile\s+/, '')) : [];

/** True when neither file has a section for the profile ([profile NAME] / [NAME] in config, [NAME] in credentials). */
export function profileMissing(name: string): boolean {
  const { config, credentials } = profileFiles();
  return !sections(config).includes(name) && !sections(credentials).includes(name);
}

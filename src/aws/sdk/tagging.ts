// @aws-sdk/client-resource-groups-tagging-api through require() (see ./load.ts): the commands the tool
// sends, and every type of the package. A command not listed here is added to this list.
import type * as Sdk from '@aws-sdk/client-resource-groups-tagging-api';
import { requireSdk } from './load.js';

export type * from '@aws-sdk/client-resource-groups-tagging-api';
export const { GetResourcesCommand } = requireSdk<typeof Sdk>('@aws-sdk/client-resource-groups-tagging-api');

import { fileURLToPath } from 'node:url';

/** The project's shared/ folder (design docs, datasets, question bank, fixtures), beside the repository. */
export const sharedDir = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const sharedPath = (relative: string) => `${sharedDir}${relative}`;

import { constants } from 'node:fs';

/**
 * Flags for opening a migration file. O_NONBLOCK: should the entry have turned into a FIFO since
 * it was checked, open() returns at once instead of waiting for a writer (for a regular file the
 * flag changes nothing); fstat then refuses it. O_NOCTTY: a terminal never becomes ours.
 */
export const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

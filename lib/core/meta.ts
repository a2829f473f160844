/** pgpair's own version, recorded in every history and log row. A unit test keeps it equal to package.json's. */
export const PGPAIR_VERSION = '0.1.0';

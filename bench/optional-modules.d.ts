// The bench's own dependencies (bench/package.json) are installed only for a bench run, not for
// `npm run typecheck` at the root: the parts of them the bench uses, declared here.
declare module 'dbmate' {
  /** The path of the dbmate binary for this platform. */
  export function resolveBinary(): string;
}
declare module 'postgrator-cli/package.json' {
  export const version: string;
}

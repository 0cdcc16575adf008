// For src/tsconfig.json only: driver packages (ioredis, postgres.js, mysql2 and their drizzle drivers) ship
// types that pull in Node's, which would let any Node global type-check in the runtime-neutral core. The
// core type-checks against this stand-in; the root tsconfig checks the same lines against the real types.
declare const driver: any;
export default driver;
export declare const drizzle: any;
export declare const Redis: any;
export declare const Cluster: any;
export declare const createPool: any;

// Live-migration endpoints over TCP (TLS off loopback): docs/endpoints.md.
export { startTarget, type TargetHandle, type TargetOptions, type TargetSessionReport } from './target.js';
export {
  migrateDevice, queryOutcome, MigrationInDoubtError, MigrationRefusedError, type MigrateOptions, type MigrateProgress, type MigrateResult,
} from './source.js';
export { type CheckFn, defaultCheck, describeFindings, profileFromWire, profileToWire } from './check.js';
export { DEFAULT_MAX_FRAME, EndpointError, FRAME_HEADER_SIZE, MSG, encodeFrame } from './frame.js';
export { DEFAULT_TIMEOUTS, PROTOCOL_VERSION, type Timeouts, type TlsOptions, isLoopback, parseHostPort } from './protocol.js';

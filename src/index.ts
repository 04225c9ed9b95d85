// devrec library entry point.
export * from './events/types.js';
export { encodeEvent, decodeEvent, CodecError } from './events/codec.js';
export { eventFromJson, eventToJson, FieldError, hex64 } from './events/json.js';
export { describeEvent } from './events/describe.js';
export * from './model/index.js';
export * from './store/types.js';
export { FileEventStore, type FileStoreOptions, type RecoveryReport } from './store/file-store.js';
export { MemoryEventStore } from './store/memory.js';
export { openStore, DEFAULT_STORE_URL } from './store/open.js';
export { verifyFileStore, type VerifyReport, type VerifyProblem } from './store/file-verify.js';
export { Recorder, type RecorderOptions, type RecordInput } from './record/recorder.js';
export { Projector, UnknownDeviceError } from './project/projector.js';
export { reduce, applyInPlace } from './project/reducer.js';
export { initialState, stateToJson, type DeviceState, type QueueState } from './project/state.js';

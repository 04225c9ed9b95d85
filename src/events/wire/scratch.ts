// Scratch state shared by the generated codec (src/events/generated/fast-codec.ts) and its helpers.

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** An 8-byte scratch area seen as two u32 words and one u64: splits a bigint into 32-bit halves and back. */
const S8 = new Uint8Array(8);
export const S32 = new Uint32Array(S8.buffer);
export const S64 = new BigUint64Array(S8.buffer);
/** Index of the low / high word of S64 in S32 (host byte order). */
export const LO = LITTLE_ENDIAN ? 0 : 1;
export const HI = LITTLE_ENDIAN ? 1 : 0;
export const TWO32 = 4294967296;

/** Second return values of the out-of-line helpers (they return the new read/write position). */
export const R = { v: 0, lo: 0, hi: 0 };

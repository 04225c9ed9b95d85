// JSON as QEMU writes it, without losing integers: QMP sends 64-bit values (feature masks, addresses) as bare
// numbers, and JSON.parse rounds those past 2^53. Integer literals outside strings that are too large for a double
// come back as decimal strings, exact; everything else is JSON.parse's.
export function parseQemuJson(text: string): unknown {
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      continue;
    }
    if ((c >= '0' && c <= '9') || c === '-') {
      let j = i + 1;
      while (j < text.length && /[0-9]/.test(text[j]!)) j++;
      const lit = text.slice(i, j);
      const isInteger = !/[.eE]/.test(text[j] ?? '');
      if (isInteger && !Number.isSafeInteger(Number(lit))) {
        out += text.slice(last, i) + `"${lit}"`;
        last = j;
      }
      i = j - 1;
    }
  }
  return JSON.parse(last ? out + text.slice(last) : text);
}

/** A QMP integer that may have come as a decimal string (parseQemuJson) as a bigint; undefined when not one. */
export function qmpBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  return undefined;
}

// Where a JSON text stops being JSON: JSON.parse names no position for some errors ("Unexpected token ..., is not
// valid JSON"), so the first syntax error is located with jsonc-parser's scanner (comments and trailing commas
// refused, as in JSON) and given as a line and column a user can go to.
import { createRequire } from 'node:module';
import type * as Jsonc from 'jsonc-parser';

// required, not imported: the package is UMD, whose named exports neither Node's ESM loader nor every TS loader sees
const jsonc = createRequire(import.meta.url)('jsonc-parser') as typeof Jsonc;

export interface JsonSyntaxLocation {
  /** UTF-16 offset into the text */
  offset: number;
  /** 1-based */
  line: number;
  /** 1-based */
  column: number;
  reason: string;
}

const REASONS: Record<string, string> = {
  InvalidSymbol: 'unexpected character', InvalidNumberFormat: 'malformed number', PropertyNameExpected: 'a property name in double quotes expected',
  ValueExpected: 'a value expected', ColonExpected: '":" expected', CommaExpected: '"," expected', CloseBraceExpected: '"}" expected',
  CloseBracketExpected: '"]" expected', EndOfFileExpected: 'text after the JSON value', InvalidCommentToken: 'comments are not JSON',
  UnexpectedEndOfComment: 'comments are not JSON', UnexpectedEndOfString: 'string not closed', UnexpectedEndOfNumber: 'number cut short',
  InvalidUnicode: 'malformed \\u escape', InvalidEscapeCharacter: 'malformed escape', InvalidCharacter: 'control character in a string',
};

/** The first syntax error of `text` (which JSON.parse refused), or undefined when none is found. */
export function locateJsonSyntaxError(text: string): JsonSyntaxLocation | undefined {
  const errors: Jsonc.ParseError[] = [];
  jsonc.parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors.sort((a, b) => a.offset - b.offset)[0];
  if (!first) return undefined;
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < first.offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  const code = jsonc.printParseErrorCode(first.error);
  return { offset: first.offset, line, column: first.offset - lineStart + 1, reason: REASONS[code] ?? code };
}

// The one error type of the event and message codecs: malformed bytes or a value the schema cannot carry.
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

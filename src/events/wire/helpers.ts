// Everything the generated codec calls, under one namespace (`import * as H`).
export * from './read.js';
export * from './write.js';

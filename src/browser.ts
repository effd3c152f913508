// Browser entry: the same engine; device acquisition finds navigator.gpu at run time.
export * from './index.js';

// WGSL kernels are imported as strings: esbuild (build.mjs) and vitest (vitest.config.ts) load
// `*.wgsl` files as text.
declare module '*.wgsl' {
  const source: string;
  export default source;
}

// wgsl_reflect's "main" is a CommonJS file in a "type": "module" package, which Node cannot load;
// its ES module build is imported by path, with the package's own types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}

// Preloaded (`node --expose-gc --import`) into every server of bench/docs.mjs's memory phase: a full GC each
// half second, so RSS reflects live documents rather than garbage, the same way for every server.
setInterval(() => globalThis.gc?.(), 500).unref();

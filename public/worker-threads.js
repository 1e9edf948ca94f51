/* Chromatica's multi-threaded search worker (an ES module worker), started only where the page is
   cross-origin isolated: the threads build of the engine, whose rerank runs on a wasm-bindgen-rayon
   pool of one thread per core (at most 8). Same protocol and same results as worker.js; if it cannot
   start, it answers with an error and the page falls back to worker.js. */
import init, { initThreadPool, worker_handle } from './threads/chromatica_worker.js';

const MAX_THREADS = 8;
// A pool thread whose script is refused (e.g. by a CSP without blob: workers) never reports back.
const POOL_TIMEOUT_MS = 20000;

const ready = (async () => {
  if (!self.crossOriginIsolated) throw new Error('the page is not cross-origin isolated');
  await init();
  const threads = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS));
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error('its thread pool did not start')), POOL_TIMEOUT_MS));
  await Promise.race([initThreadPool(threads), timeout]);
})();

onmessage = (event) => {
  ready.then(
    () => worker_handle(event.data).then((reply) => postMessage(reply)),
    (e) => postMessage({
      id: event.data && event.data.id,
      error: 'the multi-threaded search worker could not start: ' + (e && e.message ? e.message : e),
    }));
};

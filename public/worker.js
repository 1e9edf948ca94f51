/* Chromatica's search worker: the same wasm as the page, holding the index and answering
   searches so the page's thread never blocks on them. */
importScripts('chromatica.js');
var ready = null;
onmessage = function (event) {
  // The page sends its compiled module first when it has one; otherwise load the wasm here.
  if (event.data && event.data.kind === 'init') {
    ready = wasm_bindgen({ module_or_path: event.data.module });
    return;
  }
  if (!ready) ready = wasm_bindgen({ module_or_path: 'chromatica_bg.wasm' });
  ready.then(function () {
    return wasm_bindgen.worker_handle(event.data).then(function (reply) { postMessage(reply); });
  }, function (e) {
    postMessage({ id: event.data && event.data.id, error: 'the search worker could not start: ' + e });
  });
};

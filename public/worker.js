/* Chromatica's search worker: the same wasm as the page, holding the index and answering
   searches so the page's thread never blocks on them. */
importScripts('chromatica.js');
var ready = wasm_bindgen({ module_or_path: 'chromatica_bg.wasm' });
onmessage = function (event) {
  ready.then(function () {
    postMessage(wasm_bindgen.worker_handle(event.data));
  }, function (e) {
    postMessage({ id: event.data && event.data.id, error: 'the search worker could not start: ' + e });
  });
};

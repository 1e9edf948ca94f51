/* Starts the wasm app (kept out of index.html so a strict Content-Security-Policy needs no
   'unsafe-inline' for scripts). */
// Loaded `async` from the page's <head>: it runs while the page is still parsing, so over http(s)
// the two files the first search needs start downloading at once: the wasm (as its gzip twin) and
// the index's head. Once the page is parsed (chromatica.js, at the end of <body>, defines
// wasm_bindgen) it starts the app with that wasm; from file:// (where browsers refuse fetch) the
// same bytes come from a classic script that sets a global. The app then loads the index's files
// the same two ways (chromatica-worker's fetch_file).
(function () {
  function fatal(message) {
    var app = document.getElementById('app');
    app.textContent = '';
    var p = document.createElement('p');
    p.className = 'boot error';
    p.setAttribute('role', 'alert');
    p.setAttribute('data-testid', 'error');
    p.textContent = 'Chromatica could not start: ' + message;
    app.appendChild(p);
  }
  function script(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement('script');
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error('could not load ' + src)); };
      document.head.appendChild(s);
    });
  }
  function bytes(base64) {
    var raw = atob(base64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  // The wasm comes as its gzip twin (`.gz`, a third of its bytes), inflated here: many static
  // hosts send files as they are. A host that inflated the twin itself sends plain wasm, taken as
  // it is; where the twin is missing or is neither, the plain file.
  function wasm(url) {
    var plain = function () { return fetch(url); };
    return fetch(url + '.gz').then(function (r) {
      return !r.ok ? plain() : r.arrayBuffer().then(function (b) {
        var head = new Uint8Array(b, 0, Math.min(4, b.byteLength));
        if (head[0] === 0x1f && head[1] === 0x8b) b = new Blob([b]).stream().pipeThrough(new DecompressionStream('gzip'));
        else if (!(head[0] === 0 && head[1] === 0x61 && head[2] === 0x73 && head[3] === 0x6d)) return plain();
        return new Response(b, { headers: { 'Content-Type': 'application/wasm' } });
      });
    }, plain);
  }
  // A twin that fails to compile (damaged) gives way to the plain file.
  function compile(url) {
    var slow = function () { return fetch(url).then(function (r) { return r.arrayBuffer(); }).then(WebAssembly.compile); };
    return (WebAssembly.compileStreaming ? WebAssembly.compileStreaming(wasm(url)) : wasm(url).then(function (r) { return r.arrayBuffer(); }).then(WebAssembly.compile)).catch(slow);
  }
  var http = location.protocol !== 'file:';
  // The index's files are stored gzip-compressed and inflated by the browser (Chrome 80, Firefox
  // 113, Safari 16.4 and later).
  var inflates = typeof DecompressionStream !== 'undefined';
  // Not over pre-rendered results (no query in the URL): they are what the visitor sees first, and
  // their thumbnails come before the wasm.
  var compiled = inflates && http && location.hash.length > 1 ? compile('chromatica_bg.wasm') : null;
  if (compiled) compiled.catch(function () { /* reported once the page is parsed */ });
  // With it, the single-threaded search worker (where the page is not cross-origin isolated; else
  // the threaded one below): its scripts load during the download, and it gets the module as
  // soon as it is compiled. The app adopts it (backend.rs).
  // A search worker started ahead of the app, left under `window[key]` for the app to adopt
  // (backend.rs), flagged if its script fails; null where it cannot start (the app starts one).
  function prestart(url, options, key) {
    try {
      var worker = new Worker(url, options);
      worker.addEventListener('error', function () { worker.chromaticaFailed = true; });
      window[key] = worker;
      return worker;
    } catch (e) { return null; }
  }
  if (compiled && !self.crossOriginIsolated && typeof Worker !== 'undefined') {
    var single = prestart('worker.js', undefined, '__chromaticaWorker');
    if (single) compiled.then(function (module) { single.postMessage({ kind: 'init', module: module }); }, function () {});
  }
  // The index's head is the first file a search needs: fetch it alongside the wasm (the app's
  // own fetch of it then comes from this preload).
  if (http) {
    var head = document.createElement('link');
    head.rel = 'preload';
    head.as = 'fetch';
    head.href = 'index/head.bin';
    head.crossOrigin = 'anonymous';
    document.head.appendChild(head);
  }
  function start() {
    // The build pre-rendered the default query's results into the page (index-builder's
    // prerender.rs); they stay only while the URL names no other query.
    var pre = document.getElementById('app');
    var hash = location.hash.replace(/^#/, '');
    if (pre && pre.hasAttribute('data-prerendered') && hash !== '' && hash !== pre.getAttribute('data-prerendered')) {
      pre.removeAttribute('data-prerendered');
      pre.textContent = '';
      var loading = document.createElement('p');
      loading.className = 'boot';
      loading.setAttribute('role', 'status');
      loading.textContent = 'Loading Chromatica…';
      pre.appendChild(loading);
    }
    // Where the page may use wasm threads, start the threaded search worker now: it compiles its wasm
    // and starts its thread pool while this page compiles the app. The app adopts it (backend.rs).
    // Not over pre-rendered results: they are what the visitor sees first, and the app that takes
    // over from them should not share the CPU with a starting thread pool (the app starts the worker
    // itself as it mounts).
    if (self.crossOriginIsolated && location.protocol !== 'file:' && !(pre && pre.hasAttribute('data-prerendered'))) {
      prestart('worker-threads.js', { type: 'module' }, '__chromaticaThreadedWorker');
    }
    if (typeof wasm_bindgen === 'undefined') return fatal('chromatica.js is missing.');
    if (typeof WebAssembly !== 'object') return fatal('this browser has no WebAssembly.');
    if (!inflates) return fatal('this browser cannot inflate the index (it has no DecompressionStream): update it.');
    var started = !http
      ? script('chromatica_wasm.js').then(function () {
          script('thumbs.js').catch(function () {});
          return wasm_bindgen({ module_or_path: bytes(window.CHROMATICA_WASM_BASE64) });
        })
      : (compiled || compile('chromatica_bg.wasm')).then(function (module) {
          // Kept for the search worker, which then instantiates it without downloading or compiling again.
          window.__chromaticaModule = module;
          return wasm_bindgen({ module_or_path: module });
        });
    started.catch(function (e) { fatal(e && e.message ? e.message : String(e)); });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

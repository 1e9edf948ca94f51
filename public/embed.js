/* Chromatica embed: put `<div data-chromatica="path/to/site/"></div>` and
   `<script src="path/to/site/embed.js"></script>` in any page. Each element gets a compact color
   search widget inside a shadow root, so the host page's CSS and the widget's CSS cannot touch. */
(function () {
  var script = document.currentScript;
  if (!script) return;
  var appBase = new URL('.', script.src).href;
  function load(src) {
    return new Promise(function (resolve, reject) {
      if (typeof wasm_bindgen !== 'undefined') return resolve();
      var s = document.createElement('script');
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error('could not load ' + src)); };
      document.head.appendChild(s);
    });
  }
  // The wasm as its gzip twin, inflated here (boot.js says why); the plain file if the twin is
  // missing, neither gzip nor wasm, or fails to compile. The module is kept for the search worker.
  function wasm(url) {
    var plain = function () { return fetch(url); };
    return fetch(url + '.gz').then(function (r) {
      if (!r.ok) return plain();
      return r.arrayBuffer().then(function (b) {
        var gz = new Uint8Array(b, 0, Math.min(4, b.byteLength));
        if (gz[0] === 0x1f && gz[1] === 0x8b) b = new Blob([b]).stream().pipeThrough(new DecompressionStream('gzip'));
        else if (!(gz[0] === 0 && gz[1] === 0x61 && gz[2] === 0x73 && gz[3] === 0x6d)) return plain();
        return new Response(b, { headers: { 'Content-Type': 'application/wasm' } });
      });
    }, plain);
  }
  function compile(url) {
    var bytes = function (r) { return r.arrayBuffer(); };
    return wasm(url).then(bytes).then(WebAssembly.compile).catch(function () { return fetch(url).then(bytes).then(WebAssembly.compile); });
  }
  var ready = window.__chromaticaEmbed || (window.__chromaticaEmbed = load(appBase + 'chromatica.js').then(function () {
    if (typeof DecompressionStream === 'undefined') throw new Error('this browser cannot inflate the index (it has no DecompressionStream): update it.');
    return compile(appBase + 'chromatica_bg.wasm');
  }).then(function (module) {
    window.__chromaticaModule = module;
    return wasm_bindgen({ module_or_path: module });
  }));
  function mountAll() {
    var hosts = document.querySelectorAll('[data-chromatica]:not([data-chromatica-mounted])');
    Array.prototype.forEach.call(hosts, function (host) {
      host.setAttribute('data-chromatica-mounted', '');
      var site = new URL(host.getAttribute('data-chromatica') || '.', document.baseURI).href;
      if (site.slice(-1) !== '/') site += '/';
      var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
      var css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = appBase + 'style.css';
      var mount = document.createElement('div');
      mount.className = 'chromatica-embed';
      mount.textContent = 'Loading color search…';
      if (host.hasAttribute('data-filter')) mount.setAttribute('data-filter', host.getAttribute('data-filter'));
      root.appendChild(css);
      root.appendChild(mount);
      ready.then(function () { wasm_bindgen.mount(mount, site); }, function (e) {
        mount.textContent = 'Chromatica could not start: ' + (e && e.message ? e.message : e);
      });
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', mountAll);
  else mountAll();
})();

// Loads the app's JS glue and wasm when the browser is idle (at most two
// seconds after the page painted), then hydrates the server's HTML. Leptos's
// own script, without its preload hints: a preloaded wasm that finished
// before the first paint made Lighthouse count its download into the LCP.
(function (root, pkg, js, wasm) {
	const hydrate = () =>
		import(`${root}/${pkg}/${js}.js`).then((mod) =>
			mod.default({ module_or_path: `${root}/${pkg}/${wasm}.wasm` }).then(() => mod.hydrate()));
	if ("requestIdleCallback" in window) {
		window.requestIdleCallback(hydrate, { timeout: 2000 });
	} else {
		hydrate();
	}
})

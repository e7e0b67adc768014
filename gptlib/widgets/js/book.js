// book.js: draws the gptlib widgets of a page of the static book from the widget state that
// myst-nb writes into the page (the state nbclient saved when the notebook ran). It is the one
// script myst-nb loads for widgets (_config.yml: nb_ipywidgets_js), in place of require.js and
// @jupyter-widgets/html-manager (3.7 MB), which every gptlib widget can do without: each is an
// anywidget whose front-end (its `_esm`) needs only get/set/on/save_changes/send.
//
// Widgets of other libraries on a page (plain ipywidgets) are handed to the html-manager, served
// by the book too (_static/gptlib/vendor/, copied from npm and anywidget at build time), so a
// page never fetches from a CDN.
//
// Each widget is drawn by the front-end this build of the book ships (widgets/<kind>.js, the
// module gptlib.widgets.base.bundle makes), not by the copy saved in the notebook, which may be
// older than the engine beside it. It also tells the widgets where the book's assets are
// (globalThis.__gptlibAssets): the engine (web/gpt.js, web/bpe.js) and the book's model (model/).
(function () {
  "use strict";
  const here = new URL(".", document.currentScript.src).href;
  globalThis.__gptlibAssets = here;

  const STATE = "application/vnd.jupyter.widget-state+json";
  const VIEW = "application/vnd.jupyter.widget-view+json";
  const isOurs = (model) =>
    model &&
    model.model_module === "anywidget" &&
    String(model.state._anywidget_id || "").startsWith("gptlib.widgets.");
  // Widgets of ours also save a Layout model each: drawing them needs nothing.
  const isLayout = (model) => model && model.model_name === "LayoutModel";

  // A model over the saved state: what anywidget gives a front-end, minus the kernel.
  function localModel(values) {
    const handlers = new Map();
    const fire = (name, ...args) => (handlers.get(name) || []).slice().forEach((f) => f(...args));
    return {
      get: (key) => values[key],
      set(key, value) {
        const old = values[key];
        values[key] = value;
        if (old !== value) fire("change:" + key, value);
      },
      save_changes() {},
      send() {}, // no kernel in the book: the widgets then compute in the page
      on(name, f) {
        handlers.set(name, (handlers.get(name) || []).concat([f]));
      },
      off(name, f) {
        handlers.set(
          name,
          (handlers.get(name) || []).filter((g) => g !== f),
        );
      },
    };
  }

  const modules = new Map();
  function frontEnd(kind) {
    if (!modules.has(kind)) modules.set(kind, import(here + "widgets/" + kind + ".js"));
    return modules.get(kind);
  }
  function addStyle() {
    if (document.querySelector("link[data-gptlib-widgets]")) return;
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = here + "widgets/widgets.css";
    link.setAttribute("data-gptlib-widgets", "");
    document.head.appendChild(link);
  }

  function loadScript(src) {
    return new Promise((ok, fail) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = ok;
      s.onerror = () => fail(new Error("could not load " + src));
      document.head.appendChild(s);
    });
  }

  // Other libraries' widgets: the html-manager draws the whole page (ours included, through
  // anywidget's own front-end), from the book's copies.
  async function htmlManager() {
    await loadScript(here + "vendor/require.js");
    // Module names resolve under vendor/: the html-manager's styles then find its fonts in
    // vendor/@jupyter-widgets/html-manager/dist/ (they are named relative to its module).
    window.requirejs.config({baseUrl: here + "vendor/", paths: {anywidget: here + "vendor/anywidget"}});
    await loadScript(here + "vendor/embed-amd.js");
  }

  async function drawAll() {
    const stateTag = document.querySelector('script[type="' + STATE + '"]');
    if (!stateTag) return;
    const state = JSON.parse(stateTag.textContent).state || {};
    if (Object.values(state).some((m) => !isOurs(m) && !isLayout(m))) {
      await htmlManager();
      document.documentElement.setAttribute("data-gptlib-widgets", "html-manager");
      return;
    }
    for (const tag of document.querySelectorAll('script[type="' + VIEW + '"]')) {
      const id = JSON.parse(tag.textContent).model_id,
        saved = state[id];
      if (!isOurs(saved)) continue;
      const holder = document.createElement("div");
      holder.className = "gptlib-output";
      holder.setAttribute("data-model-id", id);
      tag.parentNode.insertBefore(holder, tag);
      try {
        addStyle();
        const module = await frontEnd(saved.state.kind);
        module.default.render({model: localModel(Object.assign({}, saved.state)), el: holder});
      } catch (e) {
        holder.textContent = "This widget could not be drawn: " + (e.message || e);
        console.error(e);
      }
    }
    // Every widget of the page is drawn (a mark for tests and anything that waits on them).
    document.documentElement.setAttribute("data-gptlib-widgets", "drawn");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();

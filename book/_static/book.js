/* The book's own behaviour on top of sphinx-book-theme (loaded by book/_ext/book_assets.py). */

/* "Live Code" (sphinx-thebe) fetches thebe from unpkg.com when pressed. With no network the
 * script never loads and the button said "Loading thebe from CDN..." for ever: watch for that
 * script and, if it fails, say what Live Code needs and what the reader can do instead. */
(() => {
  const MESSAGE = "Live Code needs an internet connection: it loads thebe from unpkg.com and " +
    "runs this page's code on mybinder.org. The outputs shown here are the stored results; " +
    "to run the chapter without a connection, open it in Jupyter on your machine.";
  const showOffline = () => {
    for (const button of document.querySelectorAll(".thebe-launch-button")) {
      button.textContent = MESSAGE;
      button.classList.add("book-live-code-offline");
    }
  };
  const isThebe = (node) =>
    node.tagName === "SCRIPT" && typeof THEBE_JS_URL !== "undefined" && node.src === THEBE_JS_URL;
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (isThebe(node)) node.addEventListener("error", showOffline);
      }
    }
  }).observe(document.head, { childList: true });
})();

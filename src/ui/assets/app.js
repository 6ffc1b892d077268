// withcache operator UI: the only script besides htmx. Copy buttons for SHA-256 values, URLs and a new token.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
  if (!button) return;
  const value = button.getAttribute("data-copy") || "";
  const done = (label) => {
    button.textContent = label;
    setTimeout(() => (button.textContent = "copy"), 1500);
  };
  // Without the clipboard API: select the value (a SHA-256 input, or a URL's full text or a new
  // token next to the button) so the operator can copy it, and try the old copy command.
  const fallback = () => {
    const box = button.parentElement;
    const input = box && box.querySelector("input.sha-full");
    const text = box && box.querySelector(".url, .copy-value");
    if (input) input.select();
    else if (text) {
      const range = document.createRange();
      range.selectNodeContents(text);
      const selection = window.getSelection();
      if (selection) {
        selection.removeAllRanges();
        selection.addRange(range);
      }
    }
    done(document.execCommand && document.execCommand("copy") ? "copied" : "selected");
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(value).then(() => done("copied"), fallback);
  else fallback();
});

// Live sections are replaced whole (outerHTML), by their own polls and by the actions inside them.
// When two of those requests overlap, the later answer belongs to a section that is no longer on
// the page: htmx would swap it into nothing and report htmx:oobErrorNoTarget. Such a stale answer
// is dropped; for an action (a POST), a fresh copy of the live section is fetched instead, so the
// page shows the action's effect.
const guardedTargets = new WeakSet();
document.addEventListener("htmx:beforeRequest", (event) => {
  const target = event.detail && event.detail.target;
  if (!(target instanceof Element) || guardedTargets.has(target)) return;
  guardedTargets.add(target);
  // On the target itself: a detached element's events never reach the document.
  target.addEventListener("htmx:beforeSwap", (swap) => {
    if (target.isConnected) return;
    swap.detail.shouldSwap = false;
    const verb = swap.detail.requestConfig ? swap.detail.requestConfig.verb : "get";
    const live = target.id ? document.getElementById(target.id) : null;
    if (verb !== "get" && live && window.htmx) {
      window.htmx.ajax("GET", window.location.pathname + window.location.search, { target: live, swap: "outerHTML" });
    }
  });
});

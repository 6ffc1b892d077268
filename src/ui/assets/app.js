// withcache operator UI: the only script besides htmx. Copy buttons for SHA-256 values.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
  if (!button) return;
  const value = button.getAttribute("data-copy") || "";
  const done = (label) => {
    button.textContent = label;
    setTimeout(() => (button.textContent = "copy"), 1500);
  };
  const fallback = () => {
    const input = button.parentElement && button.parentElement.querySelector("input.sha-full");
    if (input) input.select();
    done(document.execCommand && document.execCommand("copy") ? "copied" : "selected");
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(value).then(() => done("copied"), fallback);
  else fallback();
});

// The page around the island (templates/editor/editor.html) names a flow opened from the gallery
// "(not saved yet)": once its first version is saved the flow exists, and the breadcrumb and the
// tab's title become those of any flow's editor (Flows / <name> / Editor).

/** Rewrite the breadcrumb (``nav[data-editor-crumbs]``) for the saved flow ``slug``/``name``;
 * a no-op once it names a saved flow. */
export function crumbsSaved({ slug, name }) {
  const nav = /** @type {HTMLElement | null} */ (document.querySelector("nav[data-editor-crumbs]"));
  if (!nav || nav.dataset.saved === "true") return;
  const link = (href, text) => {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  };
  const separator = () => {
    const s = document.createElement("span");
    s.setAttribute("aria-hidden", "true");
    s.textContent = " / ";
    return s;
  };
  const here = document.createElement("span");
  here.setAttribute("aria-current", "page");
  here.textContent = "Editor";
  nav.replaceChildren(link("/flows/", "Flows"), separator(), link(`/flows/${slug}/`, name), separator(), here);
  nav.dataset.saved = "true";
  document.title = document.title.replace(/^New flow/, `Edit ${name}`);
}

// The flow editor island: React Flow on a Django page (templates/editor/editor.html), mounted on
// #flow-editor with the page's data from #editor-data. The editor itself is Editor.jsx.
import { ReactFlowProvider } from "@xyflow/react";
import { createRoot } from "react-dom/client";
import "@xyflow/react/dist/style.css";
import "./editor.css";
import { Editor } from "./Editor.jsx";
import { makeApi } from "./api.js";
import { pageSocket } from "./socket.js";

function mount() {
  const el = document.getElementById("flow-editor");
  const dataEl = document.getElementById("editor-data");
  if (!el || !dataEl) return;
  const boot = JSON.parse(dataEl.textContent);
  createRoot(el).render(
    <ReactFlowProvider>
      <Editor boot={boot} api={makeApi(boot)} socket={pageSocket()} />
    </ReactFlowProvider>,
  );
  el.dataset.mounted = "true";
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
else mount();

// Expand or collapse every node of a preview tree; keep "N on this page selected" in step.
// Pages work without this file: trees are <details> elements and selections are links.
(() => {
  const reveal = (root) => {
    root.querySelectorAll(".tree-buttons[hidden]").forEach((el) => { el.hidden = false; });
  };
  document.addEventListener("DOMContentLoaded", () => reveal(document));
  document.addEventListener("htmx:afterSwap", (event) => reveal(event.target.parentElement || document));
  // "All matching" is selected: every row shown is part of it.
  document.addEventListener("htmx:afterSettle", () => {
    if (!document.querySelector("#selection.is-active")) return;
    document.querySelectorAll("[data-select-row], [data-select-page]").forEach((box) => {
      box.checked = true;
      box.disabled = true;
    });
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-tree-action]");
    if (!button) return;
    const scope = button.closest("[data-tree-scope]");
    const open = button.dataset.treeAction === "expand";
    scope?.querySelectorAll(".tree details").forEach((node) => { node.open = open; });
  });

  // Bulk actions act on ticked rows or on "all matching"; with neither they have nothing to do.
  const bulkActionsUpdate = () => {
    const chosen = document.querySelector("#selection.is-active")
      || document.querySelector("[data-select-row]:checked");
    document.querySelectorAll("[data-bulk-action]").forEach((button) => { button.disabled = !chosen; });
  };
  document.addEventListener("DOMContentLoaded", bulkActionsUpdate);
  document.addEventListener("htmx:afterSettle", bulkActionsUpdate);
  const countSelected = (table) => {
    const counter = document.querySelector("[data-page-selected]");
    if (counter) counter.textContent = table.querySelectorAll("[data-select-row]:checked").length;
    bulkActionsUpdate();
  };
  document.addEventListener("change", (event) => {
    const target = event.target;
    const table = target.closest("table");
    if (!table) return;
    if (target.matches("[data-select-page]")) {
      table.querySelectorAll("[data-select-row]").forEach((box) => { box.checked = target.checked; });
    }
    if (target.matches("[data-select-page], [data-select-row]")) countSelected(table);
  });
})();

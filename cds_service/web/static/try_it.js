// The try-it page works without this script; with it, medication boxes get suggestions from the
// drug index as one types, and rows can be added.
"use strict";
(function () {
  const list = document.getElementById("medication-names");
  const rows = document.getElementById("medication-rows");
  const add = document.getElementById("add-row");
  if (!list || !rows) return;
  let timer = null;
  let asked = "";

  function suggest(box) {
    const q = box.value.trim();
    if (q.length < 2 || q === asked || q.includes("[RxNorm")) return;
    asked = q;
    fetch("medication-names?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : []))
      .then((names) => {
        if (q !== asked) return;  // a later keystroke has asked again
        list.replaceChildren(...names.map((n) => {
          const option = document.createElement("option");
          option.value = n.label;
          option.textContent = n.tty === "IN" ? "ingredient" : n.kind;
          return option;
        }));
      })
      .catch(() => {});
  }

  rows.addEventListener("input", (event) => {
    if (event.target.name !== "medication") return;
    clearTimeout(timer);
    timer = setTimeout(() => suggest(event.target), 150);
  });

  if (add) {
    add.hidden = false;
    add.addEventListener("click", () => {
      const last = rows.lastElementChild;
      const row = last.cloneNode(true);
      const n = rows.children.length + 1;
      for (const element of row.querySelectorAll("[id]")) {
        element.id = element.id.replace(/-\d+$/, "-" + n);
      }
      for (const label of row.querySelectorAll("label")) {
        label.htmlFor = label.htmlFor.replace(/-\d+$/, "-" + n);
        label.textContent = label.textContent.replace(/\d+/, String(n));
      }
      row.querySelector("input").value = "";
      row.querySelector("select").value = "current";
      rows.appendChild(row);
      row.querySelector("input").focus();
    });
  }
})();

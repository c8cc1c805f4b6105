// The customer search page: results follow what the agent types (after a
// short pause, newest answer wins), and the address bar keeps the query so
// Back and reload show the same list. Values go into the page as text (rd.el).
"use strict";
(() => {
  const el = rd.el;
  const q = document.getElementById("q");
  const body = document.getElementById("results-body");
  const status = document.getElementById("search-status");
  const pager = document.getElementById("pager");
  let timer = 0;
  let latest = 0; // sequence number of the newest request

  function row(c) {
    const phones = [];
    (c.phones || []).forEach((p, i) => {
      if (i) phones.push(", ");
      phones.push(p.raw);
      if (p.label) phones.push(" ", el("span", { class: "muted" }, "(" + p.label + ")"));
    });
    return el("tr", {},
      el("td", {}, el("a", { href: "/customers/" + encodeURIComponent(c.id) }, c.name || "(no name)")),
      el("td", {}, c.company), el("td", {}, c.email), el("td", {}, c.account_number),
      el("td", {}, phones), el("td", {}, el("span", { class: "badge " + c.status }, c.status)));
  }

  async function search() {
    const text = q.value.trim();
    const seq = ++latest;
    status.textContent = "Searching…";
    status.classList.remove("error");
    try {
      const res = await rd.api("GET", "/api/customers?q=" + encodeURIComponent(text));
      if (seq !== latest) return; // an older answer arriving late
      body.replaceChildren(...res.customers.map(row));
      status.textContent = res.customers.length ? res.customers.length + (res.more ? "+" : "") + " found" : "No customer found";
      pager.replaceChildren();
      if (res.more) {
        pager.append(el("a", { href: "/customers?q=" + encodeURIComponent(text) + "&offset=" + res.next_offset }, "Next page"));
      }
      history.replaceState(null, "", text ? "/customers?q=" + encodeURIComponent(text) : "/customers");
    } catch (e) {
      if (seq !== latest) return;
      status.textContent = e.message;
      status.classList.add("error");
    }
  }

  q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });
  document.getElementById("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    clearTimeout(timer);
    search();
  });
  // Enter on a result opens it; arrow down from the box moves to the first.
  q.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") {
      const first = body.querySelector("a");
      if (first) { ev.preventDefault(); first.focus(); }
    }
  });

  const form = document.getElementById("new-customer");
  const msg = document.getElementById("new-msg");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const phone = String(f.get("phone") || "").trim();
    const req = { name: f.get("name"), company: f.get("company"), email: f.get("email"),
      phones: phone ? [{ label: "main", raw: phone }] : [] };
    msg.className = "msg";
    msg.textContent = "Saving…";
    try {
      const c = await rd.api("POST", "/api/customers", req);
      location.assign("/customers/" + encodeURIComponent(c.id));
    } catch (e) {
      msg.className = "msg error";
      msg.textContent = e.message;
    }
  });
})();

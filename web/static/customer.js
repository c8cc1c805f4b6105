// A customer's record page. The server renders the page; this script sends
// what the agent writes (JSON API, with the version read so that a change
// made meanwhile by someone else is refused, never overwritten) and then
// swaps in freshly rendered parts of the page. Values from the record go
// into the page as text only (rd.el, textContent); swapped parts come from
// our own templates, which escape them.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const id = $("record").dataset.customerId;
  const form = $("edit-form");
  // Opened from a call (?call=…): notes and cases are linked to it.
  const callId = ($("from-call") && $("from-call").dataset.callId) || "";

  function say(node, text, kind) {
    node.className = node.className.replace(/\b(error|ok)\b/g, "").trim() + (kind ? " " + kind : "");
    node.setAttribute("role", kind === "error" ? "alert" : "status");
    node.textContent = text;
  }

  // refresh re-renders the parts of the page with the given ids from the
  // server, keeping focus on the element that had it when it still exists.
  async function refresh(...ids) {
    const res = await fetch(location.pathname, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (res.status === 401 || res.redirected) { location.reload(); return; }
    if (!res.ok) throw new Error("Reload the page to see the latest record (" + res.status + ").");
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const focused = document.activeElement && document.activeElement.id;
    for (const part of ids) {
      const fresh = doc.getElementById(part);
      const old = $(part);
      if (fresh && old) old.replaceWith(document.importNode(fresh, true));
    }
    if (focused && document.activeElement === document.body && $(focused)) $(focused).focus();
  }

  // ---- details ---------------------------------------------------------

  let phoneSeq = 1000;
  $("phone-add").addEventListener("click", () => {
    const row = $("phone-row-template").content.firstElementChild.cloneNode(true);
    const n = ++phoneSeq;
    const [labelL, rawL] = row.querySelectorAll("label");
    const label = row.querySelector(".ph-label"), raw = row.querySelector(".ph-raw");
    label.id = "ph-label-" + n; labelL.htmlFor = label.id;
    raw.id = "ph-raw-" + n; rawL.htmlFor = raw.id;
    $("phone-list").append(row);
    label.focus();
  });
  $("phone-list").addEventListener("click", (ev) => {
    const btn = ev.target.closest(".ph-remove");
    if (!btn) return;
    btn.closest(".phone-row").remove();
    $("phone-add").focus();
  });

  function formUpdate() {
    const v = (name) => form.elements[name].value;
    const phones = [];
    for (const row of $("phone-list").querySelectorAll(".phone-row")) {
      const label = row.querySelector(".ph-label").value.trim();
      const raw = row.querySelector(".ph-raw").value.trim();
      if (label || raw) phones.push({ label, raw });
    }
    const tags = v("tags").split(",").map((t) => t.trim()).filter((t) => t);
    return {
      version: Number(form.dataset.version), name: v("name"), company: v("company"), email: v("email"),
      account_number: v("account_number"), status: v("status"), tags, address: v("address"), notes: v("notes"), phones,
    };
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("edit-msg");
    const btn = $("save-customer");
    btn.disabled = true;
    say(msg, "Saving…");
    try {
      const c = await rd.api("PATCH", "/api/customers/" + encodeURIComponent(id), formUpdate());
      form.dataset.version = String(c.version);
      $("version").textContent = String(c.version);
      say(msg, "Saved.", "ok");
      await refresh("record-head");
    } catch (e) {
      if (e.status === 409) {
        // Someone saved first: nothing of ours was written, and the form
        // keeps what this agent typed so it can be compared after a reload.
        say(msg, e.message + " Your edits were not saved; they are still in this form.", "error");
      } else {
        say(msg, e.message, "error");
      }
    } finally {
      btn.disabled = false;
    }
  });

  // ---- notes -----------------------------------------------------------

  $("note-new").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("note-msg");
    const body = $("note-body");
    say(msg, "Saving…");
    try {
      await rd.api("POST", "/api/customers/" + encodeURIComponent(id) + "/notes", { body: body.value, call_id: callId });
      body.value = "";
      await refresh("timeline");
      say(msg, "Note added.", "ok");
    } catch (e) {
      say(msg, e.message, "error");
    }
  });

  // ---- cases -----------------------------------------------------------

  $("case-new").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const msg = $("case-new-msg");
    say(msg, "Saving…");
    try {
      const k = await rd.api("POST", "/api/customers/" + encodeURIComponent(id) + "/cases", {
        subject: f.elements.subject.value, description: f.elements.description.value, priority: f.elements.priority.value,
        call_id: callId,
      });
      f.reset();
      f.closest("details").open = false;
      await refresh("record-head", "cases", "timeline");
      say(msg, "Case #" + k.id + " opened.", "ok");
    } catch (e) {
      say(msg, e.message, "error");
    }
  });

  async function updateCase(caseForm, change) {
    const caseId = caseForm.dataset.caseId;
    const msg = caseForm.parentElement.querySelector(".case-msg");
    say(msg, "Saving…");
    try {
      await rd.api("PATCH", "/api/cases/" + encodeURIComponent(caseId), { version: Number(caseForm.dataset.version), ...change });
      await refresh("record-head", "cases", "timeline");
      const fresh = document.querySelector("#case-" + CSS.escape(caseId) + " .case-msg");
      if (fresh) say(fresh, change.status === "closed" ? "Case closed." : "Case updated.", "ok");
    } catch (e) {
      say(msg, e.status === 409 ? e.message + " Nothing was changed." : e.message, "error");
    }
  }

  // The cases are re-rendered after each change: listen on the section.
  document.addEventListener("submit", (ev) => {
    const f = ev.target.closest(".case-form");
    if (!f) return;
    ev.preventDefault();
    updateCase(f, { status: f.elements.status.value, priority: f.elements.priority.value });
  });
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest(".case-close");
    if (!btn) return;
    updateCase(btn.closest(".case-form"), { status: "closed" });
  });
})();

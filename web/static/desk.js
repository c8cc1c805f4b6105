// The agent desk: one WebSocket to /desk/ws (messages in
// agentdesk/PROTOCOL.md) for pops, call progress and routing state; the
// JSON API for what the agent writes (link, new customer, wrap-up).
// Everything from a caller or a record is put in the page as text (rd.el),
// never as HTML.
"use strict";
(() => {
  const cfg = JSON.parse(document.getElementById("desk-config").textContent);
  const $ = (id) => document.getElementById(id);
  const el = rd.el;

  const STATE_LABEL = {
    "logged-out": "Logged out", "available": "Ready", "ringing": "Ringing",
    "on-call": "On call", "wrap-up": "Wrap-up", "away": "Away",
  };
  const PROGRESS_LABEL = {
    dialing: "Dialing", ringing: "Ringing", connected: "Connected", held: "On hold", ended: "Ended", failed: "Failed",
  };

  let ws = null;
  let backoff = 500;         // ms before the next reconnect; doubles to 10 s
  let stopped = false;       // true after a fatal mismatch: do not reconnect
  let seq = 0;
  const pending = new Map(); // request id → {resolve, command}
  let skew = 0;              // server clock minus ours, from hello
  let agent = { state: "", reason: "", since: null };
  // The call in hand: its pop (if any), its latest progress, and the card
  // shown (the pop's customer, or one the agent picked or created).
  let call = { id: "", pop: null, progress: null, rendered: false };

  const now = () => Date.now() + skew;

  // ---- socket ----------------------------------------------------------

  function connect() {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/desk/ws";
    setConn("Connecting…", false);
    ws = new WebSocket(url);
    ws.addEventListener("open", () => { backoff = 500; setConn("Connected", false); });
    ws.addEventListener("message", (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      handle(msg);
    });
    ws.addEventListener("close", () => {
      ws = null;
      for (const [, p] of pending) p.resolve({ ok: false, message: "The connection dropped; try again." });
      pending.clear();
      setButtons();
      if (stopped) return;
      // Jittered exponential backoff, so a restarted server is not hit by
      // every desk at the same instant.
      const delay = Math.round(backoff * (0.5 + Math.random() / 2));
      backoff = Math.min(backoff * 2, 10000);
      setConn("Disconnected: reconnecting in " + Math.ceil(delay / 1000) + " s…", true);
      // A dead session sends the page to the login (rd.api does on 401).
      rd.api("GET", "/api/me").catch(() => {});
      setTimeout(connect, delay);
    });
  }

  function send(type, payload) {
    return new Promise((resolve) => {
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        resolve({ ok: false, message: "Not connected to the server." });
        return;
      }
      const id = "r" + (++seq);
      pending.set(id, { resolve, command: type });
      const msg = { type, v: 1, id };
      if (payload !== undefined) msg.payload = payload;
      ws.send(JSON.stringify(msg));
    });
  }

  function handle(msg) {
    const p = msg.payload || {};
    switch (msg.type) {
      case "hello":
        if (String(p.agent_id) !== cfg.agent_id) {
          // Never show another agent's calls: a socket that is not ours is closed for good.
          stopped = true;
          ws.close();
          setConn("This desk connected as another user. Reload the page.", true);
          return;
        }
        if (p.server_time) skew = Date.parse(p.server_time) - Date.now();
        // The state message follows; until it does (or if the server
        // cannot look it up), offer what a logged-out agent can do.
        if (!agent.state) setAgent("logged-out", "", null);
        setButtons();
        break;
      case "state":
        if (String(p.agent_id) !== cfg.agent_id) return;
        setAgent(p.state, p.reason, p.since);
        break;
      case "pop":
        if (String(p.agent_id) !== cfg.agent_id) return; // not ours: never shown
        onPop(p);
        break;
      case "call":
        if (String(p.agent_id) !== cfg.agent_id) return;
        onProgress(p);
        break;
      case "ack": {
        const req = pending.get(msg.id);
        if (req) { pending.delete(msg.id); req.resolve(p); }
        break;
      }
      case "error":
        if (msg.id && pending.has(msg.id)) {
          const req = pending.get(msg.id);
          pending.delete(msg.id);
          req.resolve({ ok: false, code: p.code, message: p.message });
        } else {
          setConn(p.message || "The server reported a problem.", true);
        }
        break;
      default: // a type this page does not know: ignored (protocol rule)
    }
  }

  function setConn(text, down) {
    const c = $("conn");
    c.textContent = text;
    c.classList.toggle("down", !!down);
  }

  // ---- agent state -----------------------------------------------------

  function setAgent(state, reason, since) {
    agent = { state, reason: reason || "", since: since ? Date.parse(since) : now() };
    const b = $("state");
    b.className = "badge " + state;
    b.dataset.state = state;
    let label = STATE_LABEL[state] || state;
    if (agent.reason && (state === "away" || state === "logged-out")) label += " (" + agent.reason + ")";
    $("state-label").textContent = label;
    if (state === "wrap-up" || state === "on-call") enableWrapUp(true);
    tick();
    setButtons();
  }

  function setButtons() {
    const up = ws && ws.readyState === WebSocket.OPEN;
    const s = agent.state;
    $("btn-ready").disabled = !up || !["logged-out", "away", "wrap-up"].includes(s);
    $("btn-away").disabled = !up || !["logged-out", "available", "away", "wrap-up"].includes(s);
    $("btn-logout").disabled = !up || !["available", "away", "wrap-up"].includes(s);
  }

  async function command(type, payload, next) {
    const msg = $("state-msg");
    msg.textContent = "";
    msg.className = "msg";
    const ack = await send(type, payload);
    if (!ack.ok) {
      msg.textContent = ack.message || "The server refused it.";
      msg.className = "msg error";
      return false;
    }
    // The ack means routing took it: show it now; the state message that
    // follows confirms it (or corrects it).
    if (next) setAgent(next.state, next.reason, null);
    return true;
  }

  $("btn-ready").addEventListener("click", async () => {
    if (agent.state === "logged-out") {
      await command("login", { ready: true }, { state: "available" });
      return;
    }
    if (agent.state === "wrap-up" && wrapUpDirty()) {
      // Ready ends wrap-up: keep what the agent wrote first.
      if (!(await saveWrapUp())) return;
    }
    if (await command("ready", undefined, { state: "available" })) endCall();
  });

  $("btn-away").addEventListener("click", async () => {
    const reason = $("away-reason").value;
    if (agent.state === "logged-out") {
      if (!(await command("login", { ready: false }, { state: "away" }))) return;
    }
    if (agent.state === "wrap-up" && wrapUpDirty()) {
      if (!(await saveWrapUp())) return;
    }
    await command("away", { reason }, { state: "away", reason });
  });

  $("btn-logout").addEventListener("click", async () => {
    if (agent.state === "wrap-up" && wrapUpDirty()) {
      if (!(await saveWrapUp())) return;
    }
    if (await command("logout", undefined, { state: "logged-out" })) endCall();
  });

  // ---- the call --------------------------------------------------------

  function onPop(p) {
    const fresh = call.id !== p.call_id;
    if (fresh) startCall(p.call_id);
    call.pop = p;
    // An inbound pop is the call ringing (no "ringing" progress follows).
    if (!call.progress) {
      $("call-state").textContent = PROGRESS_LABEL.ringing;
      $("call-state").dataset.state = "ringing";
    }
    // Pops are idempotent by call id: a pop sent again on reconnect does
    // not throw away a card the agent picked or created.
    if (!call.rendered) renderPop(p);
    showCallFacts();
    send("pop-ack", { call_id: p.call_id });
  }

  function onProgress(p) {
    if (call.id !== p.call_id) startCall(p.call_id);
    // Each message carries the times known so far; keep earlier ones that
    // a later message leaves out (an "ended" may omit answered_at).
    // The call path may send only "at": a connected message's "at" is
    // when the call was answered, an ended one's when it ended.
    const prev = call.progress || {};
    call.progress = Object.assign({}, p, {
      offered_at: p.offered_at || prev.offered_at,
      answered_at: p.answered_at || prev.answered_at || (p.state === "connected" ? p.at : undefined),
      ended_at: p.ended_at || prev.ended_at || (p.state === "ended" || p.state === "failed" ? p.at : undefined),
    });
    const st = $("call-state");
    let label = PROGRESS_LABEL[p.state] || p.state;
    if (p.reason) label += " (" + p.reason + ")";
    st.textContent = label;
    st.dataset.state = p.state;
    if (p.state === "connected" || p.state === "ended") enableWrapUp(true);
    showCallFacts();
    tick();
  }

  function startCall(id) {
    call = { id, pop: null, progress: null, rendered: false };
    $("wrapup-form").reset();
    setWrapMsg("", "");
    $("call-state").textContent = "—";
    $("call-state").dataset.state = "";
    enableWrapUp(true);
  }

  // endCall clears the desk once the agent is done with the call.
  function endCall() {
    call = { id: "", pop: null, progress: null, rendered: false };
    $("wrapup-form").reset();
    enableWrapUp(false);
    $("call-state").textContent = "No call";
    $("call-state").dataset.state = "";
    for (const id of ["call-caller", "call-queue", "call-wait", "call-talk"]) $(id).textContent = "—";
    const pop = $("pop");
    pop.dataset.callId = "";
    pop.dataset.match = "";
    $("pop-body").replaceChildren(el("p", { class: "muted" }, "No call in hand."));
  }

  function callerText(p) {
    const number = p.caller_e164 || p.caller_raw || "withheld";
    return p.caller_name ? p.caller_name + " · " + number : number;
  }

  function showCallFacts() {
    const p = call.pop;
    if (p) {
      $("call-caller").textContent = callerText(p);
      $("call-caller").title = callerText(p);
      $("call-queue").textContent = p.queue || "—";
    }
  }

  function fmt(ms) {
    if (ms < 0 || !isFinite(ms)) ms = 0;
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(r).padStart(2, "0");
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  // tick refreshes the timers once a second.
  function tick() {
    // Inside the badge: nothing after it moves as the label changes.
    if (agent.since) $("state-since").textContent = fmt(now() - agent.since);
    const pr = call.progress, p = call.pop;
    if (!pr && !p) return;
    const t = (v) => (v ? Date.parse(v) : null);
    const offered = (pr && t(pr.offered_at)) || (p && t(p.offered_at));
    const waitStart = offered && p ? offered - (p.wait_ms || 0) : offered;
    const answered = pr && t(pr.answered_at);
    const ended = pr && t(pr.ended_at);
    if (waitStart) $("call-wait").textContent = fmt((answered || ended || now()) - waitStart);
    if (answered) $("call-talk").textContent = fmt((ended || now()) - answered);
  }
  setInterval(tick, 1000);

  // ---- the pop card ----------------------------------------------------

  function renderPop(p) {
    const pop = $("pop");
    pop.dataset.callId = p.call_id;
    pop.dataset.match = p.match;
    pop.dataset.shownAt = String(Date.now()); // when the caller appeared (the browser tests measure it)
    const body = [];
    body.push(el("p", { class: "pop-caller", id: "pop-caller" },
      el("strong", {}, "Caller: "), callerText(p),
      p.queue ? el("span", { class: "muted" }, " · queue ", p.queue) : null));
    switch (p.match) {
      case "one":
        body.push(card({ customer: p.customer, recent_calls: p.recent_calls, open_cases: p.open_cases }));
        call.rendered = true;
        break;
      case "several":
        body.push(chooser(p));
        break;
      case "unknown":
        body.push(newCustomerForm(p));
        break;
      default: // unavailable
        body.push(el("p", { class: "notice", id: "pop-unavailable" },
          "Customer lookup unavailable: the database did not answer in time. The call is routed anyway; look the caller up by hand."));
    }
    $("pop-body").replaceChildren(...body);
  }

  function showCard(c, note) {
    const pop = $("pop");
    pop.dataset.match = "one";
    pop.dataset.customerId = c.customer.id;
    call.rendered = true;
    const caller = $("pop-caller");
    $("pop-body").replaceChildren(...[caller, note ? el("p", { class: "okmsg", role: "status" }, note) : null, card(c)].filter(Boolean));
  }

  function card(c) {
    const cu = c.customer;
    const meta = [cu.company, cu.account_number ? "Account " + cu.account_number : "", cu.email].filter(Boolean).join(" · ");
    const phones = (cu.phones || []).map((ph) => (ph.label ? ph.label + ": " : "") + (ph.e164 || ph.raw)).join(", ");
    const calls = c.recent_calls || [];
    const cases = c.open_cases || [];
    return el("div", { class: "pop-card", id: "pop-card", "data-customer-id": cu.id },
      el("div", { class: "pop-head" },
        el("h3", { id: "pop-name" }, cu.name || cu.company || "Customer " + cu.id),
        el("span", { class: "badge " + cu.status, id: "pop-status" }, cu.status),
        el("a", { href: "/customers/" + encodeURIComponent(cu.id) }, "Open record")),
      meta ? el("p", { class: "pop-meta" }, meta) : null,
      phones ? el("p", { class: "pop-meta muted" }, phones) : null,
      (cu.tags || []).length ? el("p", { id: "pop-tags" }, (cu.tags || []).map((t) => el("span", { class: "tag" }, t))) : null,
      cu.notes ? el("p", { class: "pop-meta" }, cu.notes) : null,
      el("div", { class: "pop-cols" },
        el("section", {},
          el("h3", {}, "Recent history"),
          calls.length ? el("table", { class: "history", id: "pop-history" },
            el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "When"), el("th", { scope: "col" }, "What"),
              el("th", { scope: "col" }, "Status"), el("th", { scope: "col" }, "Notes"))),
            el("tbody", {}, calls.map((h) => el("tr", {},
              el("td", {}, when(h.at)), el("td", {}, h.kind + (h.title ? ": " + h.title : "")),
              el("td", {}, h.status), el("td", { class: "body" }, h.body))))) :
            el("p", { class: "muted" }, "No earlier calls, notes or cases.")),
        el("section", {},
          el("h3", {}, "Open cases"),
          cases.length ? el("ul", { id: "pop-cases" }, cases.map((k) =>
            el("li", {}, el("strong", {}, k.subject), " ", el("span", { class: "muted" }, "(" + k.priority + ", " + k.status + ")")))) :
            el("p", { class: "muted" }, "No open cases."))));
  }

  function when(at) {
    const d = new Date(at);
    return isNaN(d) ? "" : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  function chooser(p) {
    const msg = el("p", { class: "msg", role: "status" });
    const list = el("ul", { class: "candidates", id: "pop-candidates" }, (p.candidates || []).map((c) => {
      const b = el("button", { type: "button", class: "primary", "data-customer-id": c.id }, "This is the caller");
      b.addEventListener("click", async () => {
        b.disabled = true;
        try {
          const res = await rd.api("POST", "/api/calls/" + encodeURIComponent(p.call_id) + "/link", { customer_id: c.id });
          showCard(res, "Call logged to " + (res.customer.name || res.customer.company) + ".");
        } catch (e) {
          msg.textContent = e.message;
          msg.className = "msg error";
          b.disabled = false;
        }
      });
      const meta = [c.company, c.account_number ? "Account " + c.account_number : "", c.status].filter(Boolean).join(" · ");
      return el("li", {}, el("span", {}, el("strong", {}, c.name || c.company), " ", el("span", { class: "muted" }, meta)), b);
    }));
    return el("div", {}, el("p", {}, "Several customers share this number. Who is calling?"), list, msg);
  }

  function newCustomerForm(p) {
    const number = p.caller_e164 || (p.caller_raw && p.caller_raw !== "anonymous" ? p.caller_raw : "");
    const field = (id, label, attrs, full) => el("div", { class: full ? "full" : "" },
      el("label", { for: id }, label), el("input", Object.assign({ id, name: id }, attrs || {})));
    const msg = el("p", { class: "msg", role: "status" });
    const form = el("form", { class: "newcust", id: "newcust-form" },
      field("nc-name", "Name", { autocomplete: "off" }),
      field("nc-company", "Company", { autocomplete: "off" }),
      field("nc-email", "Email", { type: "email", autocomplete: "off" }),
      field("nc-account", "Account number", { autocomplete: "off" }),
      field("nc-phone", "Phone", { value: number, autocomplete: "off" }),
      field("nc-label", "Phone label", { value: "main", autocomplete: "off" }),
      el("div", { class: "full row" }, el("button", { type: "submit", class: "primary", id: "nc-save" }, "Save customer"), msg));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const save = $("nc-save");
      save.disabled = true;
      try {
        const res = await rd.api("POST", "/api/calls/" + encodeURIComponent(p.call_id) + "/customer", {
          name: $("nc-name").value, company: $("nc-company").value, email: $("nc-email").value,
          account_number: $("nc-account").value, phone: $("nc-phone").value, phone_label: $("nc-label").value,
        });
        showCard(res, "Customer saved and linked to this call.");
      } catch (e) {
        msg.textContent = e.message;
        msg.className = "msg error";
        save.disabled = false;
      }
    });
    return el("div", {}, el("p", {}, "Unknown caller. Save them as a new customer; the call is logged to the record."), form);
  }

  // ---- wrap-up -----------------------------------------------------------

  let savedWrap = { disposition: "", notes: "" };

  function enableWrapUp(on) {
    for (const id of ["disposition", "notes", "btn-wrapup"]) $(id).disabled = !on || !call.id;
  }

  function wrapUpDirty() {
    return call.id && ($("disposition").value !== savedWrap.disposition || $("notes").value.trim() !== savedWrap.notes);
  }

  function setWrapMsg(text, kind) {
    const m = $("wrapup-msg");
    m.textContent = text;
    m.className = "msg " + kind;
  }

  async function saveWrapUp() {
    if (!call.id) return false;
    const body = { disposition: $("disposition").value, notes: $("notes").value };
    try {
      await rd.api("POST", "/api/calls/" + encodeURIComponent(call.id) + "/wrapup", body);
      savedWrap = { disposition: body.disposition, notes: body.notes.trim() };
      setWrapMsg("Saved.", "ok");
      return true;
    } catch (e) {
      setWrapMsg(e.message, "error");
      return false;
    }
  }

  $("wrapup-form").addEventListener("submit", (ev) => { ev.preventDefault(); saveWrapUp(); });
  $("wrapup-form").addEventListener("reset", () => { savedWrap = { disposition: "", notes: "" }; });

  // The desk is open all day: keep the session from going idle meanwhile.
  setInterval(() => rd.api("GET", "/api/me").catch(() => {}), 5 * 60 * 1000);

  setButtons();
  connect();
})();

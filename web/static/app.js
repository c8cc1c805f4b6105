// Ringdesk's shared script: no framework, no build step. Every page gets
// rd.api (fetch with the CSRF token and JSON) and rd.el (builds DOM nodes
// with textContent, so a value from a caller or a record is never parsed as
// HTML).
"use strict";
const rd = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  // api calls the JSON API. It resolves to the decoded body (or null for
  // 204) and rejects with an Error carrying status, code and a message fit
  // to show.
  async function api(method, url, body) {
    const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") opts.headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url, opts);
    } catch (e) {
      const err = new Error("The server cannot be reached. Check the connection and try again.");
      err.status = 0; err.code = "unavailable";
      throw err;
    }
    if (res.status === 401) {
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    }
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const err = new Error((data && data.message) || ("Request failed: " + res.status));
      err.status = res.status; err.code = data && data.code;
      throw err;
    }
    return data;
  }

  // el("p", {class: "x"}, "text", child…): attributes are set with
  // setAttribute, children as text nodes or nodes. Attributes whose name
  // starts with "on" are refused: handlers go through addEventListener.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k.startsWith("on")) throw new Error("rd.el: no inline handlers");
      node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  return { api, el, csrf };
})();

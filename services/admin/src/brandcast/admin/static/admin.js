// Brandcast admin: the little behaviour pages need on top of server rendering.
// Everything user- or provider-supplied is inserted with textContent (never
// innerHTML); the email preview goes into a sandboxed iframe's srcdoc.
"use strict";

(function () {
  const main = document.getElementById("main");
  const csrfToken = main ? main.dataset.csrf : "";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      node.setAttribute(key, value);
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function postForm(url, body, signal) {
    const response = await fetch(url, {
      method: "POST",
      body: body,
      headers: { "X-CSRF-Token": csrfToken, Accept: "application/json" },
      credentials: "same-origin",
      signal: signal,
    });
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = { error: "unexpected answer (HTTP " + response.status + ")" };
    }
    return { status: response.status, payload: payload };
  }

  // Forms that ask before doing something that cannot be undone.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  setUpCompose(document.getElementById("compose"));
  setUpLiveProgress(document.getElementById("live-progress"));

  function setUpCompose(form) {
    if (!form) return;
    const kitSelect = document.getElementById("brand_kit");

    function showKit() {
      const kit = kitSelect.value;
      document.querySelectorAll(".kit-voice").forEach(function (p) {
        p.hidden = p.dataset.kit !== kit;
      });
      document.querySelectorAll("fieldset.accounts").forEach(function (fs) {
        const mine = fs.dataset.kit === kit;
        fs.hidden = !mine;
        fs.disabled = !mine; // disabled fieldsets are not submitted
      });
    }
    kitSelect.addEventListener("change", showKit);
    showKit();

    function showChannelSettings() {
      document.querySelectorAll(".channel-settings").forEach(function (div) {
        const toggle = document.getElementById(div.dataset.for);
        div.hidden = !toggle.checked;
      });
    }
    form.querySelectorAll("#channels input[type=checkbox]").forEach(function (box) {
      box.addEventListener("change", showChannelSettings);
    });
    showChannelSettings();

    // Translations: clone the template with the next free index.
    document.getElementById("add-translation").addEventListener("click", function () {
      const rows = document.getElementById("translation-rows");
      const index = rows.querySelectorAll(".translation").length;
      const clone = document.getElementById("translation-template").content.cloneNode(true);
      clone.querySelectorAll("[data-part]").forEach(function (node) {
        const id = "translations-" + index + "-" + node.dataset.part;
        if (node.tagName === "LABEL") node.setAttribute("for", id);
        else {
          node.id = id;
          node.name = id;
        }
      });
      rows.appendChild(clone);
      document.getElementById("translations-" + index + "-locale").focus();
    });

    setUpPreview(form);
    setUpAudience(form);
  }

  function setUpPreview(form) {
    const status = document.getElementById("preview-status");
    let timer = null;
    let inFlight = null;

    function previewBody() {
      const data = new FormData(form);
      data.delete("audience_file");
      for (const key of Array.from(data.keys())) {
        if (key.startsWith("map_")) data.delete(key);
      }
      return data;
    }

    async function refresh() {
      if (inFlight) inFlight.abort();
      inFlight = new AbortController();
      status.textContent = "Updating preview…";
      try {
        const { status: code, payload } = await postForm("/api/preview", previewBody(), inFlight.signal);
        if (code !== 200) {
          status.textContent = "Preview unavailable: " + (payload.error || "HTTP " + code);
          return;
        }
        drawPreview(payload);
      } catch (error) {
        if (error.name !== "AbortError") status.textContent = "Preview unavailable: " + error.message;
      }
    }

    function schedule(event) {
      const target = event.target;
      if (target && (target.id === "audience_file" || (target.name || "").startsWith("map_"))) return;
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    }
    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);

    document.querySelectorAll("#preview-email [data-width]").forEach(function (button) {
      button.addEventListener("click", function () {
        const frame = document.getElementById("email-frame");
        frame.classList.toggle("mobile", button.dataset.width === "mobile");
        frame.classList.toggle("desktop", button.dataset.width === "desktop");
        document.querySelectorAll("#preview-email [data-width]").forEach(function (b) {
          b.setAttribute("aria-pressed", String(b === button));
        });
      });
    });

    if (document.getElementById("headline").value || document.getElementById("body").value) refresh();
  }

  function warningList(warnings) {
    const list = el("ul", { class: "warnings" });
    (warnings || []).forEach(function (w) {
      const attributes = { "data-code": w.code };
      if (w.severity === "error") attributes.class = "error";
      list.appendChild(el("li", attributes, w.message + (w.field ? " (" + w.field + ")" : "")));
    });
    return list;
  }

  function drawPreview(payload) {
    const status = document.getElementById("preview-status");
    const warnings = document.getElementById("preview-warnings");
    warnings.replaceChildren();
    const errors = Object.entries(payload.errors || {});
    errors.forEach(function ([field, message]) {
      warnings.appendChild(el("li", { class: "error" }, (field ? field + ": " : "") + message));
    });
    const preview = payload.preview;
    if (!preview) {
      status.textContent = errors.length ? "Fix the fields above to see a preview." : "Type a headline and a body to see the variants.";
      return;
    }
    (preview.warnings || []).forEach(function (w) {
      const attributes = { "data-code": w.code };
      if (w.severity === "error") attributes.class = "error";
      warnings.appendChild(el("li", attributes, w.message));
    });
    status.textContent = "Preview up to date.";

    const emailPane = document.getElementById("preview-email");
    const email = preview.email[0];
    emailPane.hidden = !email;
    if (email) {
      document.getElementById("email-from").textContent = email.from;
      document.getElementById("email-subject").textContent = email.subject;
      document.getElementById("email-preheader").textContent = email.preheader;
      const frame = document.getElementById("email-frame");
      if (frame.srcdoc !== email.html) frame.srcdoc = email.html;
      const old = emailPane.querySelector("ul.warnings");
      if (old) old.remove();
      emailPane.appendChild(warningList(email.warnings));
    }

    const smsPane = document.getElementById("preview-sms");
    const smsList = document.getElementById("sms-list");
    smsList.replaceChildren();
    smsPane.hidden = preview.sms.length === 0;
    preview.sms.forEach(function (sms) {
      const over = sms.segments > sms.budget;
      const card = el("div", { class: "sms-card" + (over ? " over" : "") });
      card.appendChild(el("p", { class: "sms-text" }, sms.text));
      const meta = el("p", { class: "sms-meta" });
      meta.appendChild(el("span", { class: "sms-encoding" }, sms.encoding));
      meta.appendChild(document.createTextNode(" · "));
      meta.appendChild(
        el("span", { class: "sms-segments" }, sms.segments + " segment" + (sms.segments === 1 ? "" : "s") + " of " + sms.budget),
      );
      meta.appendChild(document.createTextNode(" · " + sms.characters + " characters"));
      card.appendChild(meta);
      card.appendChild(warningList(sms.warnings));
      smsList.appendChild(card);
    });

    const socialPane = document.getElementById("preview-social");
    const socialList = document.getElementById("social-list");
    socialList.replaceChildren();
    socialPane.hidden = preview.social.length === 0;
    preview.social.forEach(function (post) {
      const card = el("div", { class: "social-card" + (post.over ? " over" : ""), "data-account": post.account });
      card.appendChild(el("p", { class: "social-account" }, post.network + " " + post.handle));
      card.appendChild(el("p", { class: "social-text" }, post.text));
      const id = "meter-" + post.account;
      const label = el("label", { for: id, class: "social-length" }, post.length + "/" + post.limit);
      const meter = el("meter", { id: id, min: "0", max: String(post.limit || 1), value: String(post.length), high: String(Math.floor((post.limit || 1) * 0.9)) });
      card.appendChild(meter);
      card.appendChild(label);
      card.appendChild(warningList(post.warnings));
      socialList.appendChild(card);
    });
  }

  function setUpAudience(form) {
    const input = document.getElementById("audience_file");
    const mapping = document.getElementById("mapping");
    const report = document.getElementById("audience-report");
    const selects = Array.from(mapping.querySelectorAll("select"));
    let inFlight = null;

    async function check(useMapping) {
      if (!input.files.length) return;
      if (inFlight) inFlight.abort();
      inFlight = new AbortController();
      const data = new FormData();
      data.append("audience_file", input.files[0]);
      if (useMapping) {
        selects.forEach(function (s) {
          if (s.value) data.append(s.name, s.value);
        });
      }
      report.replaceChildren(el("p", { class: "muted" }, "Checking the file…"));
      try {
        const { status, payload } = await postForm("/api/audience", data, inFlight.signal);
        if (status !== 200) {
          report.replaceChildren(el("p", { class: "error", role: "alert" }, payload.error || "HTTP " + status));
          return;
        }
        fillMapping(payload.headers, payload.mapping);
        drawReport(payload.report);
      } catch (error) {
        if (error.name !== "AbortError") report.replaceChildren(el("p", { class: "error" }, error.message));
      }
    }

    function fillMapping(headers, current) {
      selects.forEach(function (select) {
        const target = select.name.replace(/^map_/, "");
        select.replaceChildren(el("option", { value: "" }, "— not in the file —"));
        headers.forEach(function (header) {
          const option = el("option", { value: header }, header);
          if (current[target] === header) option.selected = true;
          select.appendChild(option);
        });
      });
      mapping.hidden = false;
    }

    function drawReport(r) {
      const parts = [];
      const summary = el("p", { class: "report-summary" });
      summary.append(
        el("strong", { "data-count": "total" }, r.total_rows), " rows: ",
        el("strong", { "data-count": "accepted" }, r.accepted), " accepted, ",
        el("strong", { "data-count": "rejected" }, r.rejected), " rejected.",
      );
      parts.push(summary);
      if (r.without_email || r.without_phone) {
        parts.push(el("p", { class: "hint" }, r.without_email + " without email, " + r.without_phone + " without phone (they get no message on that channel)."));
      }
      const reasons = Object.entries(r.reasons);
      if (reasons.length) {
        const list = el("ul", { class: "reasons" });
        reasons.forEach(function ([reason, count]) {
          list.appendChild(el("li", {}, reason + ": " + count));
        });
        parts.push(list);
        const table = el("table", { class: "rejected-rows" });
        table.appendChild(el("caption", {}, "Rejected rows" + (r.rejected_rows.length < r.rejected ? " (first " + r.rejected_rows.length + ")" : "")));
        const head = el("tr");
        ["Line", "Reason", "Detail"].forEach(function (h) {
          head.appendChild(el("th", { scope: "col" }, h));
        });
        table.appendChild(el("thead")).appendChild(head);
        const body = table.appendChild(el("tbody"));
        r.rejected_rows.forEach(function (row) {
          const tr = el("tr");
          tr.append(el("td", {}, row.line), el("td", {}, row.reason), el("td", {}, row.detail));
          body.appendChild(tr);
        });
        const wrap = el("div", { class: "table-wrap" });
        wrap.appendChild(table);
        parts.push(wrap);
      }
      if (r.skipped_total) {
        // Kept rows with one bad address: that channel is skipped, the other goes out.
        const channels = Object.entries(r.skipped).map(function ([channel, count]) {
          return count + " " + (channel === "sms" ? "phone number" : "email address") + (count === 1 ? "" : "s");
        });
        parts.push(el("p", { class: "skipped-summary", "data-count": "skipped" },
          channels.join(" and ") + " skipped as invalid; those recipients still get their other channel. " +
          "After sending, the campaign page lists them and offers them as CSV."));
        const table = el("table", { class: "skipped-rows" });
        table.appendChild(el("caption", {}, "Skipped addresses" + (r.skipped_rows.length < r.skipped_total ? " (first " + r.skipped_rows.length + ")" : "")));
        const head = el("tr");
        ["Line", "Channel", "Address", "Why"].forEach(function (h) {
          head.appendChild(el("th", { scope: "col" }, h));
        });
        table.appendChild(el("thead")).appendChild(head);
        const body = table.appendChild(el("tbody"));
        r.skipped_rows.forEach(function (row) {
          const tr = el("tr");
          tr.append(el("td", {}, row.line), el("td", {}, row.channel), el("td", {}, row.address), el("td", {}, row.reason));
          body.appendChild(tr);
        });
        const wrap = el("div", { class: "table-wrap" });
        wrap.appendChild(table);
        parts.push(wrap);
      }
      report.replaceChildren(...parts);
    }

    input.addEventListener("change", function () {
      check(false);
    });
    selects.forEach(function (select) {
      select.addEventListener("change", function () {
        check(true);
      });
    });
  }

  // The deliveries table was rendered with the page: while the campaign is live,
  // fetch this page again (at most every 2 s) and swap in its fresh table, so a
  // row does not read "pending" while the counters above have moved on.
  let refreshing = false;
  let lastRefresh = 0;
  let trailing = null;
  function refreshDeliveries() {
    const table = document.getElementById("deliveries");
    if (!table || table.dataset.live !== "true" || trailing) return;
    const wait = lastRefresh + 2000 - Date.now();
    if (refreshing || wait > 0) {
      // One more refresh after the pause, so the last change is always shown.
      trailing = setTimeout(function () {
        trailing = null;
        refreshDeliveries();
      }, Math.max(wait, 500));
      return;
    }
    refreshing = true;
    lastRefresh = Date.now();
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : Promise.reject(new Error("HTTP " + response.status));
      })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("deliveries");
        const current = document.getElementById("deliveries");
        if (fresh && current) current.replaceWith(document.importNode(fresh, true));
      })
      .catch(function () {
        // The next progress event tries again.
      })
      .finally(function () {
        refreshing = false;
      });
  }

  function setUpLiveProgress(section) {
    if (!section || section.dataset.final === "true" || !window.EventSource) return;
    const status = document.getElementById("live-status");
    const source = new EventSource(section.dataset.events);
    status.textContent = "Following live progress…";

    source.addEventListener("progress", function (event) {
      const data = JSON.parse(event.data);
      const state = document.getElementById("campaign-state");
      state.textContent = data.state_label;
      state.className = "state state-" + data.state;
      state.dataset.state = data.state;
      if (data.state === "dispatched") {
        // Everything has left: there is nothing to cancel or pause any more.
        ["/cancel", "/pause"].forEach(function (action) {
          const form = document.querySelector('form[action$="' + action + '"]');
          if (form) form.remove();
        });
      }
      const pace = document.getElementById("pace");
      if (pace && data.pace) {
        pace.replaceChildren(
          ...data.pace.map(function (line) {
            const item = document.createElement("li");
            item.textContent = line;
            return item;
          })
        );
      }
      data.channels.forEach(function (channel) {
        const item = document.querySelector('#progress-bars [data-channel="' + channel.channel + '"]');
        if (item) {
          channel.segments.forEach(function (segment) {
            const rect = item.querySelector('rect[data-status="' + segment.status + '"]');
            if (rect) {
              rect.setAttribute("x", segment.x);
              rect.setAttribute("width", segment.width);
              rect.querySelector("title").textContent = segment.count + " " + segment.label;
            }
          });
          item.querySelector("svg").setAttribute("aria-label", channel.aria);
          item.querySelector(".summary").textContent = channel.summary;
          item.querySelector(".total").textContent = "of " + channel.total;
          let badge = item.querySelector(".failures");
          if (channel.failures && !badge) {
            badge = document.createElement("span");
            badge.className = "badge badge-failed failures";
            item.querySelector(".progress-text").append(" ", badge);
          }
          if (badge) badge.textContent = channel.failures ? channel.failures + " failed" : "";
        }
        const row = document.querySelector('#status-counts tr[data-channel="' + channel.channel + '"]');
        if (row) {
          Object.entries(channel.counts).forEach(function ([name, count]) {
            const cell = row.querySelector('[data-status="' + name + '"]');
            if (cell) cell.textContent = count;
          });
        }
      });
      if (data.final) {
        source.close();
        status.textContent = "Campaign " + data.state_label + ". Refreshing the deliveries…";
        // The deliveries table was rendered before the end; show the final one.
        window.location.reload();
      } else {
        refreshDeliveries();
        status.textContent = data.waiting_for
          ? "Following live progress: waiting for " + data.waiting_for + "."
          : "Following live progress…";
      }
    });
    source.addEventListener("failure", function (event) {
      status.textContent = "Live progress stopped: " + JSON.parse(event.data).error;
      source.close();
    });
    // "end" without a final state means the orchestrator closed the watch (a
    // restart, say): EventSource reconnects by itself and resumes from the last id.
    source.addEventListener("error", function () {
      status.textContent = "Connection lost; reconnecting…";
    });
  }
})();

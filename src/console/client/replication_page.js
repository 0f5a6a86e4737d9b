// Replication: this server's role, each replica (leader) or the link to the leader (replica):
// position, lag, time behind, catch-up rate and ETA (from two polls), last error; and a fleet
// hub's sites or an edge's uplink to its hub, with the rate and ETA the fleet layer measures.

import { getJson } from "./api.js";
import { h, replace, stat, table } from "./dom.js";
import * as fmt from "./format.js";

const POLL_MS = 2000;

/**
 * Catch-up estimate from two positions `dtS` seconds apart: `{ rate, etaS }`, where `rate` is
 * entries/s applied and `etaS` the time to apply `lag` more at that rate (NaN when unknown).
 */
export function catchUp(before, now, dtS, lag) {
  if (before === undefined || !(dtS > 0)) return { rate: NaN, etaS: NaN };
  const rate = Math.max(0, now - before) / dtS;
  if (lag === 0) return { rate, etaS: 0 };
  return { rate, etaS: rate > 0 ? lag / rate : Infinity };
}

function eta(s) {
  if (Number.isNaN(s)) return "–";
  if (s === 0) return "caught up";
  if (!Number.isFinite(s)) return "not catching up";
  return fmt.duration(s);
}

function stateClass(state) {
  if (state === "online" || state === "connected") return "ok";
  return state === "refused" ? "bad" : "warn";
}

/** Renders the replication page; returns the cleanup that stops polling. */
export async function render(main) {
  const body = h("div", { id: "replication" });
  const errorLine = h("p", { class: "error", role: "alert" });
  replace(main, h("h1", {}, "Replication"), errorLine, body);
  let previous;

  function drawLeader(st, dtS) {
    const rows = st.replicas.map((r) => {
      const cu = catchUp(previous?.positions.get(r.id), r.position, dtS, r.lagEntries);
      return h(
        "tr",
        {},
        h("td", { class: "mono" }, r.id.slice(0, 12), r.verified ? "" : " (unverified)"),
        h("td", { class: "mono" }, r.address),
        h("td", { class: stateClass(r.state) }, r.state),
        h("td", { class: "num" }, fmt.count(r.position)),
        h("td", { class: "num" }, fmt.count(r.lagEntries)),
        h("td", { class: "num" }, fmt.bytes(r.lagBytes)),
        h("td", { class: "num" }, fmt.duration(r.lagSeconds)),
        h("td", { class: "num" }, Number.isNaN(cu.rate) ? "–" : `${fmt.num(cu.rate)}/s`),
        h("td", {}, eta(cu.etaS)),
        h("td", {}, fmt.time(r.lastSeenMs)),
        h("td", { class: "muted" }, "–"),
      );
    });
    return [
      h(
        "div",
        { class: "grid" },
        stat("Role", "leader"),
        stat("Position (durable seq)", fmt.count(st.position)),
        stat(
          "Replicas online",
          `${st.replicas.filter((r) => r.state === "online").length} / ${st.replicas.length}`,
        ),
        stat("Replication port", String(st.info.replication_port ?? "–")),
      ),
      h("h2", {}, "Replicas"),
      rows.length === 0 ? h("p", { class: "muted" }, "No replica has connected yet.") : table(
        [
          "Replica",
          "Address",
          "State",
          h("th", { class: "num" }, "Position"),
          h("th", { class: "num" }, "Lag (entries)"),
          h("th", { class: "num" }, "Lag (bytes)"),
          h("th", { class: "num" }, "Time behind"),
          h("th", { class: "num" }, "Catch-up"),
          "ETA",
          "Last seen",
          "Last error",
        ],
        rows,
      ),
    ];
  }

  function drawReplica(st, dtS) {
    const l = st.leader;
    const cu = catchUp(previous?.positions.get("leader"), l.position, dtS, l.lagEntries);
    return [
      h(
        "div",
        { class: "grid" },
        stat("Role", "replica"),
        stat("Leader", l.address),
        stat(
          "Link",
          l.linkState,
          `${l.retries} retries since the last success`,
          stateClass(l.linkState),
        ),
        stat("Position", fmt.count(l.position), `leader at ${fmt.count(l.leaderPosition)}`),
        stat("Lag", `${fmt.count(l.lagEntries)} entries`, `ETA ${eta(cu.etaS)}`),
        stat(
          "Time behind",
          fmt.duration(l.stalenessSeconds),
          `last contact ${fmt.time(l.lastContactMs)}`,
        ),
      ),
      l.refusal !== "" ? h("p", { class: "error" }, `Refused by the leader: ${l.refusal}`) : null,
      h("p", { class: l.lastError ? "error" : "muted" }, `Last error: ${l.lastError || "none"}`),
    ];
  }

  function drawUplinks(st) {
    if (st.uplinks.length === 0) {
      return h(
        "div",
        { class: "placeholder", id: "uplinks" },
        "Uplinks and sites: none configured on this server.",
      );
    }
    return table(
      [
        "Uplink / site",
        "State",
        h("th", { class: "num" }, "Acknowledged"),
        h("th", { class: "num" }, "Lag (entries)"),
        h("th", { class: "num" }, "Lag (bytes)"),
        h("th", { class: "num" }, "Time behind"),
        h("th", { class: "num" }, "Rate"),
        "ETA",
        "Last contact",
        "Last error",
      ],
      st.uplinks.map((u) =>
        h(
          "tr",
          {},
          h("td", {}, u.name),
          h("td", { class: stateClass(u.state) }, u.state),
          h("td", { class: "num" }, fmt.count(u.position)),
          h("td", { class: "num" }, fmt.count(u.lagEntries)),
          h("td", { class: "num" }, fmt.bytes(u.lagBytes)),
          h("td", { class: "num" }, fmt.duration(u.lagSeconds)),
          h("td", { class: "num" }, `${fmt.num(u.rateEntriesPerSec)}/s`),
          h("td", {}, u.etaSeconds < 0 ? "–" : eta(u.etaSeconds)),
          h("td", {}, u.lastContactMs > 0 ? fmt.time(u.lastContactMs) : "never"),
          h("td", { class: u.lastError ? "error" : "muted" }, u.lastError || "none"),
        )
      ),
    );
  }

  async function poll() {
    try {
      const st = await getJson("/v1/replication");
      const nowMs = Date.now();
      const dtS = previous === undefined ? 0 : (nowMs - previous.nowMs) / 1000;
      const parts = st.role === "leader"
        ? drawLeader(st, dtS)
        : st.role === "replica"
        ? drawReplica(st, dtS)
        : [
          h(
            "div",
            { class: "grid" },
            stat("Role", "standalone"),
            stat("Position (last seq)", fmt.count(st.position)),
          ),
          h(
            "p",
            { class: "muted" },
            "Replication is off. Start with --replication-port to lead, or run cityhall " +
              "replica --leader HOST:PORT to follow a leader.",
          ),
        ];
      replace(body, parts, h("h2", {}, "Uplinks and sites"), drawUplinks(st));
      const positions = new Map(st.replicas.map((r) => [r.id, r.position]));
      if (st.leader) positions.set("leader", st.leader.position);
      previous = { nowMs, positions };
      errorLine.textContent = "";
    } catch (err) {
      errorLine.textContent = String(err?.message ?? err);
    }
  }

  await poll();
  const timer = setInterval(() => {
    if (!document.hidden) void poll();
  }, POLL_MS);
  return () => clearInterval(timer);
}

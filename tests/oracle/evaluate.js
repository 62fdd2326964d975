#!/usr/bin/env node
// Test oracle: evaluate OpenStreetMap opening_hours values with the reference
// evaluator opening_hours.js (pinned in package.json), so the service's own
// evaluator can be checked against an independent implementation.
//
// Reads one JSON document on stdin:
//   {"cases": [{"expr": str, "lat": num, "lon": num,
//               "instants": ["YYYY-MM-DDTHH:MM:SS", ...],   // Asia/Shanghai wall time
//               "horizon_days": int (default 366)}, ...],
//    "holidays": ["YYYY-MM-DD", ...] | null}
// Writes one JSON document on stdout:
//   {"results": [{"error": str} |
//                {"warnings": [str], "answers": [{"state", "comment", "next_change",
//                                                 "next_state", "searched_until"}]}]}
//   state: "open" | "closed" | "unknown" at the instant (start of a range counts, end does not);
//   next_change/next_state: first later instant where that tri-state differs (comment-only
//   changes skipped), or null if none before searched_until, which is instant + horizon_days,
//   or the end of the last year in "holidays" when a PH rule would need a year not listed.
//
// Must run with TZ=Asia/Shanghai: the library works on local Date objects.
// Exit status 2 on unusable input or environment; per-expression problems are
// reported as {"error": ...} in that expression's result.
'use strict';

const fs = require('fs');
const path = require('path');
const Module = require('module');

function die(message) {
    process.stderr.write(`evaluate.js: ${message}\n`);
    process.exit(2);
}

if (new Date(2025, 0, 1).getTimezoneOffset() !== -480) {
    die('must run with TZ=Asia/Shanghai (UTC+8); got UTC offset '
        + `${-new Date(2025, 0, 1).getTimezoneOffset()} minutes`);
}

const LIB_MAIN = (() => {
    try {
        return require.resolve('opening_hours');
    } catch {
        return die('opening_hours is not installed; run: npm ci --prefix tests/oracle');
    }
})();
const LIB_VERSION = require('opening_hours/package.json').version;
if (LIB_VERSION !== '3.15.0') {
    die(`expected opening_hours 3.15.0, found ${LIB_VERSION}; run: npm ci --prefix tests/oracle`);
}

// stdout carries only the result document; the library's own logging goes to stderr.
console.log = console.info = (...args) => process.stderr.write(args.join(' ') + '\n');

const NOMINATIM_STATE = '山西省';
const OPTIONS = { mode: 0, tag_key: 'opening_hours', warnings_severity: 7 };
const MSEC_IN_DAY = 24 * 60 * 60 * 1000;

// The library's built-in China definition, which we replace as a whole (country PH
// list and the Tibet state entry inside it) when the caller supplies a holiday list.
const CN_START = '\n  const cn = {\n    PH: [{"name":"元旦","fixed_date":[1,1]},';
const CN_END = '\n  };\n';
const CN_MUST_CONTAIN = ['"西藏自治区": {', '"_state_code": "xz"'];

/** Load opening_hours.js with China's PH list replaced by exactly `dates`. */
function loadPatchedLibrary(dates) {
    const text = fs.readFileSync(LIB_MAIN, 'utf8');
    const start = text.indexOf(CN_START);
    if (start === -1 || text.indexOf(CN_START, start + 1) !== -1) {
        die(`cannot find exactly one China holiday definition in ${LIB_MAIN}`);
    }
    const end = text.indexOf(CN_END, start + 1);
    const block = text.slice(start, end);
    if (end === -1 || !CN_MUST_CONTAIN.every((s) => block.includes(s))
            || block.includes('SH:') || !text.includes('    cn: cn,\n')) {
        die(`the China holiday definition in ${LIB_MAIN} does not look as expected`);
    }
    const entries = dates.map(([y, m, d]) => ({ name: 'PH', fixed_date: [m, d], year: y }));
    const replacement = `\n  const cn = {\n    PH: ${JSON.stringify(entries)}`;
    const patched = text.slice(0, start) + replacement + text.slice(end);

    // Compile as a sibling of the real file so that require('suncalc') resolves the same way.
    const filename = path.join(path.dirname(LIB_MAIN), 'opening_hours.patched-cn-ph.js');
    const mod = new Module(filename, module);
    mod.filename = filename;
    mod.paths = Module._nodeModulePaths(path.dirname(filename));
    mod._compile(patched, filename);
    return mod.exports;
}

const INSTANT_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

function pad(n, width = 2) {
    return String(n).padStart(width, '0');
}

/** Format a Date as a naive local (Asia/Shanghai) ISO timestamp, seconds resolution. */
function formatLocal(date) {
    return `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
        + `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Parse a naive local ISO timestamp, rejecting impossible calendar values. */
function parseInstant(text, where) {
    const m = typeof text === 'string' ? INSTANT_RE.exec(text) : null;
    if (!m) die(`${where}: instant must be "YYYY-MM-DDTHH:MM:SS", got ${JSON.stringify(text)}`);
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
    const date = new Date(y, mo - 1, d, h, mi, s);
    if (formatLocal(date) !== text) die(`${where}: no such local time ${text}`);
    return date;
}

function parseHolidays(holidays) {
    if (holidays === null || holidays === undefined) return null;
    if (!Array.isArray(holidays)) die('"holidays" must be a list of "YYYY-MM-DD" or null');
    const seen = new Map();
    for (const h of holidays) {
        const m = typeof h === 'string' ? DATE_RE.exec(h) : null;
        if (!m) die(`holiday must be "YYYY-MM-DD", got ${JSON.stringify(h)}`);
        const [y, mo, d] = m.slice(1).map(Number);
        const date = new Date(y, mo - 1, d);
        if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d) {
            die(`no such date: ${h}`);
        }
        seen.set(h, [y, mo, d]);
    }
    return [...seen.keys()].sort().map((k) => seen.get(k));
}

function triState(it) {
    if (it.getState()) return 'open';
    if (it.getUnknown()) return 'unknown';
    return 'closed';
}

function errorText(e) {
    if (e instanceof Error) return `${e.name}: ${e.message}`;
    return String(e);
}

/**
 * State at `date` and the first later instant at which the tri-state differs.
 * advance() steps over every boundary, including comment-only ones, so keep
 * stepping until open/closed/unknown actually changes or the limit is reached
 * (advance() never reports a boundary at or after the limit).
 */
function answerAt(oh, date, limit) {
    const it = oh.getIterator(date);
    const state = triState(it);
    const comment = it.getComment();
    let nextChange = null;
    let nextState = null;
    while (it.advance(limit)) {
        const s = triState(it);
        if (s !== state) {
            nextChange = formatLocal(it.getDate());
            nextState = s;
            break;
        }
    }
    return {
        state,
        comment: typeof comment === 'string' ? comment : null,
        next_change: nextChange,
        next_state: nextState,
        searched_until: formatLocal(limit),
    };
}

function main() {
    let input;
    try {
        input = JSON.parse(fs.readFileSync(0, 'utf8'));
    } catch (e) {
        die(`stdin is not one JSON document: ${errorText(e)}`);
    }
    if (typeof input !== 'object' || input === null || !Array.isArray(input.cases)) {
        die('input must be an object with a "cases" list');
    }

    const stock = require('opening_hours');
    const holidayDates = parseHolidays(input.holidays);
    const patched = holidayDates === null ? null : loadPatchedLibrary(holidayDates);
    const lib = patched || stock;
    // Years for which the supplied list is authoritative. The library cannot
    // evaluate a PH selector in a year without any listed date (it indexes an
    // empty list), so searches for the next change stop at the end of this range.
    const coveredUntil = holidayDates && holidayDates.length
        ? new Date(holidayDates[holidayDates.length - 1][0] + 1, 0, 1)
        : null;
    const coverage = holidayDates && holidayDates.length
        ? `${holidayDates[0][0]}-${holidayDates[holidayDates.length - 1][0]}`
        : 'none';

    const results = input.cases.map((c, i) => {
        const where = `case ${i}`;
        if (typeof c !== 'object' || c === null || typeof c.expr !== 'string'
                || !Array.isArray(c.instants)) {
            die(`${where}: needs "expr" (string) and "instants" (list)`);
        }
        const lat = Number(c.lat);
        const lon = Number(c.lon);
        if (!Number.isFinite(lat) || !Number.isFinite(lon)) die(`${where}: lat/lon must be numbers`);
        const horizon = c.horizon_days === undefined || c.horizon_days === null ? 366 : c.horizon_days;
        if (!Number.isInteger(horizon) || horizon < 0) die(`${where}: horizon_days must be an integer >= 0`);
        const instants = c.instants.map((s) => parseInstant(s, where));

        // 3.15.0 only takes lat/lon given as strings (numbers are silently ignored,
        // which would put sunrise/sunset at the wrong place).
        const nominatim = {
            lat: String(lat),
            lon: String(lon),
            address: { country_code: 'cn', state: NOMINATIM_STATE },
        };
        let oh;
        try {
            oh = new lib(c.expr, nominatim, OPTIONS);
        } catch (e) {
            return { error: errorText(e) };
        }

        // Warnings are evaluated at the current time; with a replaced holiday list
        // that may be a year the list does not cover, so fall back to the stock list.
        let warnings;
        try {
            warnings = oh.getWarnings();
        } catch {
            try {
                warnings = new stock(c.expr, nominatim, OPTIONS).getWarnings();
            } catch (e) {
                return { error: `getWarnings: ${errorText(e)}` };
            }
        }

        const answers = [];
        for (let k = 0; k < instants.length; k++) {
            const date = instants[k];
            const limit = new Date(date.getTime() + horizon * MSEC_IN_DAY);
            try {
                answers.push(answerAt(oh, date, limit));
            } catch (e) {
                if (coveredUntil === null || coveredUntil <= date) {
                    return { error: `at ${c.instants[k]}: ${errorText(e)}`
                        + (holidayDates ? ` (holidays given for years ${coverage})` : '') };
                }
                // Most likely the search ran into a year without holidays: retry up
                // to the end of the covered years.
                try {
                    answers.push(answerAt(oh, date, coveredUntil < limit ? coveredUntil : limit));
                } catch (e2) {
                    return { error: `at ${c.instants[k]}: ${errorText(e2)} `
                        + `(holidays given for years ${coverage}; a PH rule may need the `
                        + 'year before or after)' };
                }
            }
        }
        return { warnings: warnings.map(String), answers };
    });

    process.stdout.write(JSON.stringify({ results }) + '\n');
}

main();

// What the browser tests (dashboard.test.mjs, demo.test.mjs) share, so that both
// report and fail the same way: named steps with "  ok  …" lines, a hard timeout on
// the whole run, waitUntil on the page, and one ending — "browser: N passed, 0 failed"
// and exit code 0, or the failing step, its message, the page's errors and a
// screenshot of the failure, and exit code 1.
//
//   const h = harness({ screenshot: 'test-artifacts/x.png', hardTimeoutMs: 120_000, cleanup });
//   page = await context.newPage(); h.setPage(page);
//   await h.finish(main);   // main() runs h.step(name, fn) after h.step(…)

import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/** How long one wait inside a step may take. */
export const STEP_TIMEOUT_MS = 15_000;

/** A failed check: reported by its message alone (other errors with their stack). */
export class Failure extends Error {}

export function assert(condition, message) {
  if (!condition) throw new Failure(message);
}

export function log(line) {
  process.stdout.write(`${line}\n`);
}

/**
 * One test run. `screenshot`: the file a failure's screenshot goes to;
 * `hardTimeoutMs`: the limit on the whole run, counted from this call;
 * `cleanup`: async, closes what the test opened (the browser, sockets), on
 * success and on failure; `reportConsoleErrors`: also collect the page's
 * console errors, list them on failure and note them (not fatal) on success.
 */
export function harness({ screenshot, hardTimeoutMs, cleanup = async () => {}, reportConsoleErrors = false }) {
  let page = null;
  let currentStep = 'start-up';
  let passed = 0;
  const pageErrors = [];
  const consoleErrors = [];

  async function step(name, fn) {
    currentStep = name;
    const started = Date.now();
    await fn();
    passed += 1;
    log(`  ok  ${name} (${Date.now() - started} ms)`);
  }

  async function saveScreenshot(file, options = {}) {
    if (!page) return null;
    try {
      await mkdir(path.dirname(path.resolve(file)), { recursive: true });
      await page.screenshot({ path: file, fullPage: true, ...options });
      return file;
    } catch {
      return null;
    }
  }

  async function waitUntil(fn, arg, what, timeout = STEP_TIMEOUT_MS) {
    try {
      await page.waitForFunction(fn, arg, { timeout, polling: 100 });
    } catch {
      throw new Failure(`${what} (waited ${timeout / 1000} s)`);
    }
  }

  async function closeAll() {
    try {
      await cleanup();
    } catch {
      /* ignore */
    }
  }

  async function fail(err) {
    log(`FAIL  ${currentStep}`);
    log(`      ${err instanceof Failure ? err.message : err?.stack || err}`);
    if (pageErrors.length) log(`      page errors:\n        ${pageErrors.join('\n        ')}`);
    if (consoleErrors.length) log(`      console errors:\n        ${consoleErrors.slice(-10).join('\n        ')}`);
    const shot = await saveScreenshot(screenshot);
    if (shot) log(`      screenshot of the failure: ${shot}`);
    log(`browser: ${passed} passed, 1 failed`);
    await closeAll();
    process.exit(1);
  }

  const hardTimeout = setTimeout(() => {
    fail(new Failure(`hard timeout: the whole test took longer than ${hardTimeoutMs / 1000} s`));
  }, hardTimeoutMs);

  /** The page that waitUntil watches, screenshots show and errors are collected from. */
  function setPage(p) {
    page = p;
    page.on('pageerror', (err) => pageErrors.push(String(err?.stack || err)));
    if (reportConsoleErrors) {
      page.on('console', (msg) => {
        if (msg.type() === 'error') consoleErrors.push(msg.text());
      });
    }
  }

  /** Runs main, reports, cleans up and exits: 0 if every step passed, 1 otherwise. */
  async function finish(main) {
    try {
      await main();
      clearTimeout(hardTimeout);
      if (consoleErrors.length) log(`note: console errors seen (not fatal):\n  ${consoleErrors.join('\n  ')}`);
      log(`browser: ${passed} passed, 0 failed`);
      await closeAll();
      process.exit(0);
    } catch (err) {
      clearTimeout(hardTimeout);
      await fail(err);
    }
  }

  return { step, saveScreenshot, waitUntil, finish, setPage, pageErrors, consoleErrors };
}

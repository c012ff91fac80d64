// Products: create, edit, delete; other admins' changes arrive live
// (`newProduct`, `productUpdated`, `productRemoved`).

import { h, replaceChildren, formatMoney, timeEl, flash, announce } from './dom.js';
import { PRODUCTS, CREATE_PRODUCT, UPDATE_PRODUCT, DELETE_PRODUCT } from './queries.js';
import { describeError } from './api.js';

const PAGE = 50;

export class ProductsView {
  constructor(session, root) {
    this.session = session;
    this.root = root;
    this.form = root.querySelector('#product-form');
    this.formTitle = root.querySelector('#product-form-title');
    this.formError = root.querySelector('#product-form-error');
    this.formNote = root.querySelector('#product-form-note');
    this.submit = root.querySelector('#product-submit');
    this.cancel = root.querySelector('#product-cancel');
    this.tbody = root.querySelector('tbody');
    this.empty = root.querySelector('#products-empty');
    this.more = root.querySelector('#products-more');
    this.error = root.querySelector('#products-error');
    this.products = new Map();
    this.rows = new Map();
    this.editing = null; // product id
    this.endCursor = null;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.save();
    });
    this.cancel.addEventListener('click', () => this.resetForm());
    this.more.addEventListener('click', () => this.fetchPage());
  }

  async load() {
    this.products.clear();
    this.rows.clear();
    replaceChildren(this.tbody);
    this.endCursor = null;
    await this.fetchPage();
  }

  async fetchPage() {
    this.more.disabled = true;
    try {
      const { products } = await this.session.query(PRODUCTS, { first: PAGE, after: this.endCursor });
      this.error.hidden = true;
      for (const p of products.nodes) this.upsert(p, { append: true });
      this.endCursor = products.pageInfo.endCursor;
      this.more.hidden = !products.pageInfo.hasNextPage;
    } catch (err) {
      if (!this.session.signedIn) return;
      this.error.textContent = `Could not load products: ${describeError(err)}`;
      this.error.hidden = false;
    }
    this.more.disabled = false;
    this.empty.hidden = this.products.size > 0;
  }

  upsert(product, { append = false } = {}) {
    this.products.set(product.id, product);
    const row = this.renderRow(product);
    const old = this.rows.get(product.id);
    this.rows.set(product.id, row);
    if (old) old.replaceWith(row);
    else if (append) this.tbody.append(row);
    else this.tbody.prepend(row);
    this.empty.hidden = true;
    return row;
  }

  // Live events (also echo our own mutations: handled idempotently).
  added(product) {
    if (this.products.has(product.id)) return;
    flash(this.upsert(product));
  }

  changed(product) {
    const known = this.products.get(product.id);
    if (known && known.updatedAt === product.updatedAt && known.name === product.name) return;
    if (!known) return; // not on a loaded page
    flash(this.upsert(product));
    if (this.editing === product.id && !this.savingId) {
      this.formNote.textContent = 'Someone else just changed this product; the form shows their version.';
      this.formNote.hidden = false;
      this.fill(product);
    }
  }

  deleted(id) {
    if (!this.products.has(id)) return;
    this.rows.get(id)?.remove();
    this.rows.delete(id);
    this.products.delete(id);
    this.empty.hidden = this.products.size > 0;
    if (this.editing === id) {
      this.resetForm();
      this.formNote.textContent = 'The product you were editing was deleted.';
      this.formNote.hidden = false;
    }
  }

  renderRow(product) {
    const row = h(
      'tr',
      { testid: 'product-row', dataset: { productId: product.id } },
      h('td', { 'data-label': 'Name' }, h('div', {}, h('div', { testid: 'product-name' }, product.name), product.description ? h('div', { class: 'muted small clamp' }, product.description) : null)),
      h('td', { 'data-label': 'Price', class: 'num', testid: 'product-price' }, formatMoney(product.price)),
      h('td', { 'data-label': 'Stock', class: 'num', testid: 'product-stock' }, product.stock < 5 ? h('span', { class: product.stock === 0 ? 'badge badge-danger' : 'badge badge-warn' }, String(product.stock)) : String(product.stock)),
      h('td', { 'data-label': 'Updated' }, timeEl(product.updatedAt)),
      h('td', { 'data-label': 'Actions', class: 'actions' }),
    );
    this.renderActions(row, product);
    return row;
  }

  renderActions(row, product, confirming = false) {
    const cell = row.querySelector('td.actions');
    const label = product.name;
    if (confirming) {
      replaceChildren(
        cell,
        h('div', {}, h(
          'div',
          { class: 'row-actions', role: 'group', 'aria-label': `Confirm deleting ${label}` },
          h('button', { type: 'button', class: 'btn btn-small btn-danger', testid: 'product-confirm-delete', onclick: () => this.remove(product.id) }, 'Confirm delete'),
          h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => { this.renderActions(row, product); row.querySelector('[data-testid="product-delete"]')?.focus(); } }, 'Keep'),
        ),
        h('p', { class: 'inline-msg', role: 'status', testid: 'product-message', hidden: true })),
      );
      cell.querySelector('button').focus();
      return;
    }
    replaceChildren(
      cell,
      h('div', {}, h(
        'div',
        { class: 'row-actions' },
        h('button', { type: 'button', class: 'btn btn-small', testid: 'product-edit', 'aria-label': `Edit ${label}`, onclick: () => this.edit(product.id) }, 'Edit'),
        h('button', { type: 'button', class: 'btn btn-small btn-ghost', testid: 'product-delete', 'aria-label': `Delete ${label}`, onclick: () => this.renderActions(row, product, true) }, 'Delete'),
      ),
      h('p', { class: 'inline-msg', role: 'status', testid: 'product-message', hidden: true })),
    );
  }

  edit(id) {
    const product = this.products.get(id);
    if (!product) return;
    this.editing = id;
    this.fill(product);
    this.formTitle.textContent = `Edit “${product.name}”`;
    this.submit.textContent = 'Save changes';
    this.cancel.hidden = false;
    this.formError.hidden = true;
    this.formNote.hidden = true;
    this.form.elements.name.focus();
  }

  fill(product) {
    const f = this.form.elements;
    f.name.value = product.name;
    f.price.value = String(product.price);
    f.stock.value = String(product.stock);
    f.description.value = product.description;
  }

  resetForm() {
    const wasEditing = this.editing;
    this.editing = null;
    this.form.reset();
    this.formTitle.textContent = 'Add a product';
    this.submit.textContent = 'Add product';
    this.cancel.hidden = true;
    this.formError.hidden = true;
    this.formNote.hidden = true;
    if (wasEditing) this.rows.get(wasEditing)?.querySelector('[data-testid="product-edit"]')?.focus();
  }

  async save() {
    const f = this.form.elements;
    const input = {
      name: f.name.value.trim(),
      price: Number(f.price.value),
      stock: f.stock.value === '' ? 0 : Number.parseInt(f.stock.value, 10),
      description: f.description.value,
    };
    this.formError.hidden = true;
    this.submit.disabled = true;
    const editing = this.editing;
    this.savingId = editing;
    try {
      if (editing) {
        const { updateProduct } = await this.session.query(UPDATE_PRODUCT, { id: editing, input });
        flash(this.upsert(updateProduct));
        announce(`Saved “${updateProduct.name}”.`);
        this.resetForm();
      } else {
        const { createProduct } = await this.session.query(CREATE_PRODUCT, { input });
        if (!this.products.has(createProduct.id)) flash(this.upsert(createProduct));
        announce(`Added “${createProduct.name}”.`);
        this.resetForm();
        f.name.focus();
      }
    } catch (err) {
      this.formError.textContent = describeError(err);
      this.formError.hidden = false;
    } finally {
      this.submit.disabled = false;
      this.savingId = null;
    }
  }

  async remove(id) {
    const row = this.rows.get(id);
    const message = row?.querySelector('[data-testid="product-message"]');
    for (const b of row?.querySelectorAll('button') ?? []) b.disabled = true;
    try {
      const name = this.products.get(id)?.name;
      await this.session.query(DELETE_PRODUCT, { id });
      this.deleted(id);
      announce(`Deleted “${name}”.`);
    } catch (err) {
      if (err.code === 'NOT_FOUND') {
        this.deleted(id);
        announce('That product had already been deleted.');
        return;
      }
      if (message) {
        message.textContent = describeError(err);
        message.hidden = false;
      }
      for (const b of row?.querySelectorAll('button') ?? []) b.disabled = false;
    }
  }
}

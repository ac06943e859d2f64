/**
 * The before/after viewer: both images in one box the size of the output, the after image
 * clipped at the slider, zoom and pan shared. "1:1" is one image pixel per device pixel
 * (devicePixelRatio), so a 2× screen shows real pixels too. Pointer: drag the divider to
 * compare, drag elsewhere to pan, wheel or pinch to zoom, double-click to toggle fit/1:1.
 * Keyboard: the slider is a range input; on the viewer, arrows pan, + − zoom, 0 fits, 1 is 1:1.
 */

export interface CompareElements {
  readonly viewer: HTMLElement;
  readonly before: HTMLImageElement;
  readonly after: HTMLImageElement;
  readonly afterLayer: HTMLElement;
  readonly split: HTMLInputElement;
  readonly divider: HTMLElement;
  readonly zoomLevel: HTMLOutputElement;
}

/** How close to the divider (CSS px) a drag moves it rather than pans. */
const DIVIDER_GRAB = 22;
const PAN_STEP = 60;

export class Compare {
  private z = 1;
  private x = 0;
  private y = 0;
  private w = 0;
  private h = 0;
  private fitted = true;
  private readonly pointers = new Map<number, { x: number; y: number }>();
  private drag: 'split' | 'pan' | 'pinch' | null = null;
  private pinchDistance = 0;

  constructor(private readonly el: CompareElements) {
    const v = el.viewer;
    el.split.addEventListener('input', () => this.setSplit(Number(el.split.value)));
    v.addEventListener('pointerdown', (e) => this.down(e));
    v.addEventListener('pointermove', (e) => this.move(e));
    v.addEventListener('pointerup', (e) => this.up(e));
    v.addEventListener('pointercancel', (e) => this.up(e));
    v.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    v.addEventListener('dblclick', (e) => {
      const p = this.local(e);
      if (this.fitted) this.zoomTo(1 / devicePixelRatio, p.x, p.y);
      else this.fit();
    });
    v.addEventListener('keydown', (e) => this.key(e));
    // A format the browser cannot draw (TIFF, say) still upscales; the view says so.
    for (const img of [el.before, el.after]) {
      img.addEventListener('error', () => v.setAttribute('data-broken', ''));
      img.addEventListener('load', () => v.removeAttribute('data-broken'));
    }
    new ResizeObserver(() => (this.fitted ? this.fit() : this.apply())).observe(v);
    this.setSplit(Number(el.split.value));
  }

  /**
   * Show `before` and/or `after` in a box of w×h image pixels (the output's size once there is
   * one). With both, the slider compares them; with one, that image alone.
   */
  show(before: string | null, after: string | null, w: number, h: number): void {
    const mode = before && after ? 'compare' : before || after ? 'single' : 'empty';
    this.el.viewer.dataset.mode = mode;
    // The view takes the image's shape (within limits), so a wide image leaves no empty band.
    if (w && h) this.el.viewer.style.aspectRatio = String(Math.min(2.4, Math.max(0.6, w / h)));
    setSrc(this.el.before, before);
    setSrc(this.el.after, after);
    if (mode === 'compare') this.setSplit(Number(this.el.split.value));
    else this.el.afterLayer.style.clipPath = 'none';
    const sameBox = w === this.w && h === this.h;
    this.w = w;
    this.h = h;
    for (const img of [this.el.before, this.el.after]) {
      img.style.width = `${w}px`;
      img.style.height = `${h}px`;
    }
    if (!sameBox || this.fitted) this.fit();
    else this.apply();
  }

  fit(): void {
    if (!this.w) {
      this.apply();
      return;
    }
    const { clientWidth: W, clientHeight: H } = this.el.viewer;
    this.z = Math.min(W / this.w, H / this.h);
    this.x = (W - this.w * this.z) / 2;
    this.y = (H - this.h * this.z) / 2;
    this.fitted = true;
    this.apply();
  }

  /** Zoom by `factor` about a point of the viewer (its centre by default). */
  zoomBy(factor: number, cx?: number, cy?: number): void {
    this.zoomTo(this.z * factor, cx, cy);
  }

  zoomTo(z: number, cx = this.el.viewer.clientWidth / 2, cy = this.el.viewer.clientHeight / 2): void {
    if (!this.w) return;
    const { clientWidth: W, clientHeight: H } = this.el.viewer;
    const min = Math.min(W / this.w, H / this.h, 1 / devicePixelRatio) / 2;
    const next = Math.min(Math.max(z, min), 32 / devicePixelRatio);
    // Keep the image point under (cx, cy) where it is.
    this.x = cx - ((cx - this.x) * next) / this.z;
    this.y = cy - ((cy - this.y) * next) / this.z;
    this.z = next;
    this.fitted = false;
    this.apply();
  }

  private setSplit(percent: number): void {
    const p = Math.min(100, Math.max(0, percent));
    this.el.split.value = String(p);
    this.el.split.setAttribute('aria-valuetext', `${Math.round(p)}% before, ${Math.round(100 - p)}% after`);
    this.el.afterLayer.style.clipPath = `inset(0 0 0 ${p}%)`;
    this.el.divider.style.left = `${p}%`;
  }

  private apply(): void {
    const { clientWidth: W, clientHeight: H } = this.el.viewer;
    const sw = this.w * this.z;
    const sh = this.h * this.z;
    // An image smaller than the view stays centred; a larger one cannot be dragged out of it.
    this.x = sw <= W ? (W - sw) / 2 : Math.min(0, Math.max(W - sw, this.x));
    this.y = sh <= H ? (H - sh) / 2 : Math.min(0, Math.max(H - sh, this.y));
    const t = `translate(${this.x}px, ${this.y}px) scale(${this.z})`;
    this.el.before.style.transform = t;
    this.el.after.style.transform = t;
    // The found faces' outlines (result.ts) sit in a box of output pixels moved with the images.
    const faces = document.getElementById('faces-box');
    if (faces) faces.style.transform = t;
    const devicePixels = this.z * devicePixelRatio;
    this.el.viewer.dataset.pixelated = String(devicePixels >= 2);
    this.el.zoomLevel.value = this.w ? `${Math.round(devicePixels * 100)}%` : '–';
  }

  private local(e: MouseEvent): { x: number; y: number } {
    const r = this.el.viewer.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  private down(e: PointerEvent): void {
    if (e.button !== 0 || this.el.viewer.dataset.mode === 'empty') return;
    this.pointers.set(e.pointerId, this.local(e));
    this.el.viewer.setPointerCapture(e.pointerId);
    if (this.pointers.size === 2) {
      const [a, b] = [...this.pointers.values()] as [{ x: number; y: number }, { x: number; y: number }];
      this.drag = 'pinch';
      this.pinchDistance = Math.hypot(a.x - b.x, a.y - b.y);
      return;
    }
    const p = this.local(e);
    const dividerX = (Number(this.el.split.value) / 100) * this.el.viewer.clientWidth;
    const nearDivider = this.el.viewer.dataset.mode === 'compare' && Math.abs(p.x - dividerX) < DIVIDER_GRAB;
    this.drag = nearDivider ? 'split' : 'pan';
    if (nearDivider) this.el.split.focus({ preventScroll: true });
    e.preventDefault();
  }

  private move(e: PointerEvent): void {
    const prev = this.pointers.get(e.pointerId);
    if (!prev || !this.drag) return;
    const p = this.local(e);
    this.pointers.set(e.pointerId, p);
    if (this.drag === 'split') {
      this.setSplit((p.x / this.el.viewer.clientWidth) * 100);
    } else if (this.drag === 'pan') {
      this.x += p.x - prev.x;
      this.y += p.y - prev.y;
      this.fitted = false;
      this.apply();
    } else if (this.pointers.size === 2) {
      const [a, b] = [...this.pointers.values()] as [{ x: number; y: number }, { x: number; y: number }];
      const d = Math.hypot(a.x - b.x, a.y - b.y);
      if (this.pinchDistance > 0) this.zoomBy(d / this.pinchDistance, (a.x + b.x) / 2, (a.y + b.y) / 2);
      this.pinchDistance = d;
    }
  }

  private up(e: PointerEvent): void {
    this.pointers.delete(e.pointerId);
    if (this.pointers.size === 0) this.drag = null;
    else if (this.drag === 'pinch') this.drag = 'pan';
  }

  private wheel(e: WheelEvent): void {
    if (this.el.viewer.dataset.mode === 'empty') return;
    e.preventDefault();
    const p = this.local(e);
    this.zoomBy(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.002)), p.x, p.y);
  }

  private key(e: KeyboardEvent): void {
    if (e.target !== this.el.viewer || e.altKey || e.ctrlKey || e.metaKey) return;
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [PAN_STEP, 0],
      ArrowRight: [-PAN_STEP, 0],
      ArrowUp: [0, PAN_STEP],
      ArrowDown: [0, -PAN_STEP],
    };
    const move = moves[e.key];
    if (move) {
      this.x += move[0];
      this.y += move[1];
      this.fitted = false;
      this.apply();
    } else if (e.key === '+' || e.key === '=') this.zoomBy(1.25);
    else if (e.key === '-' || e.key === '_') this.zoomBy(0.8);
    else if (e.key === '0') this.fit();
    else if (e.key === '1') this.zoomTo(1 / devicePixelRatio);
    else return;
    e.preventDefault();
  }
}

function setSrc(img: HTMLImageElement, src: string | null): void {
  if (src === null) img.removeAttribute('src');
  else if (img.getAttribute('src') !== src) img.src = src;
}

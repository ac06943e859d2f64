/** Numbers as a person reads them. */

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function seconds(s: number): string {
  if (s < 1) return `${Math.max(0.1, Math.round(s * 10) / 10)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function dims(w: number, h: number): string {
  return `${w} × ${h}`;
}

export function megapixels(w: number, h: number): string {
  const mp = (w * h) / 1e6;
  return `${mp < 0.1 ? mp.toFixed(2) : mp.toFixed(1)} MP`;
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

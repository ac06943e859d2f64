/** The error banner: an API error's code and message (and the field at fault), readable. */
import { ApiError } from './api.js';
import { byId } from './dom.js';

export function showError(err: unknown): void {
  if ((err as Error).name === 'AbortError') return;
  const e = err instanceof ApiError ? err : new ApiError(0, 'browser', (err as Error).message);
  byId('error-code').textContent = e.code;
  byId('error-message').textContent = e.param ? `${e.message} (field: ${e.param})` : e.message;
  byId('error').hidden = false;
}

export function clearError(): void {
  byId('error').hidden = true;
}

byId('error-close').addEventListener('click', clearError);

/** Provider-shaped ids ↔ job ids: providers that hand out UUIDs (Apiframe, Runware, fal) get one carried by the job id. */
import { randomUUID } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** A job id that carries a UUID (providers that hand out UUIDs: Apiframe, Runware). */
export function newUuidJobId(): { uuid: string; jobId: string } {
  const uuid = randomUUID();
  return { uuid, jobId: jobIdOfUuid(uuid) };
}

export function jobIdOfUuid(uuid: string): string {
  return `job_${uuid.toLowerCase().replace(/-/g, '')}`;
}

/** The UUID a job id carries, or undefined for a job created otherwise. */
export function uuidOfJobId(jobId: string): string | undefined {
  const m = /^job_([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/.exec(jobId);
  return m ? m.slice(1).join('-') : undefined;
}

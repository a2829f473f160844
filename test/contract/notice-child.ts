/**
 * Run by support.ts's collectNotices in a process of its own: raises notices on a connection with
 * an onNotice handler, then on one without, and sends what the handler received over IPC. It
 * writes nothing itself, so anything on its stdout or stderr came from the driver.
 */
import { connect } from '../../lib/db/index.js';

const url = process.env.CONTRACT_URL!;
const received: string[] = [];
const heard = await connect({ url, onNotice: (n) => received.push(`${n.severity}: ${n.message}`) });
await heard.exec(`DO $$BEGIN RAISE NOTICE 'to the handler'; END$$`);
await heard.close();
const unheard = await connect({ url });
await unheard.exec(`DO $$BEGIN RAISE NOTICE 'nobody listens'; RAISE WARNING 'nobody listens either'; RAISE INFO 'nor here'; END$$`);
await unheard.close();
process.send!(received, () => process.disconnect());

// Sends four calls through @segment/analytics-node to the service at argv[2] with the write
// key argv[3], in one batch (flushAt 4), and prints their messageIds as JSON.
const { Analytics } = require('@segment/analytics-node')

async function main () {
  const [host, writeKey] = process.argv.slice(2)
  const analytics = new Analytics({ writeKey, host, flushAt: 4, maxRetries: 0 })
  const failures = []
  analytics.on('error', (error) => failures.push(String(error.reason || error)))
  const call = (method, params) => new Promise((resolve, reject) => {
    analytics[method](params, (error, ctx) => (error ? reject(error) : resolve(ctx.event.messageId)))
  })
  const context = { app: { version: '2.3.1' } }
  const ids = await Promise.all([
    call('track', { userId: 'u1', event: 'Order Completed', properties: { revenue: 12.5 }, context }),
    call('track', { userId: 'u1', event: 'Order Completed', properties: { revenue: '12' }, context }),
    call('identify', { userId: 'u1', traits: { email: 'u1@example.com' }, context }),
    call('page', { userId: 'u1', name: 'Pricing', properties: { path: '/pricing' }, context })
  ])
  await analytics.closeAndFlush({ timeout: 20000 })
  if (failures.length) throw new Error(failures.join('; '))
  process.stdout.write(JSON.stringify({ track: ids[0], bad_track: ids[1], identify: ids[2], page: ids[3] }))
}

main().catch((error) => { console.error(error); process.exit(1) })

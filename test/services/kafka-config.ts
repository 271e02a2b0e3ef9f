/** The configuration of the single combined KRaft node (broker and controller) the tests run against. */

export interface KafkaNodeOptions {
  port: number
  controllerPort: number
  dataDir: string
}

/**
 * Only what a one-node cluster needs differs from the broker's defaults: replication factor 1 for the
 * internal topics, and no initial rebalance delay so that group tests do not wait 3 s per join. Group
 * session timeout bounds, message size, retention and auto-creation stay at Kafka's defaults, since the
 * product must live with them.
 */
export function kafkaProperties(o: KafkaNodeOptions): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `listeners=PLAINTEXT://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${o.port}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `controller.quorum.voters=1@127.0.0.1:${o.controllerPort}`,
    `log.dirs=${o.dataDir}`,
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=4',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n')
}

const pattern = '[%d] %p %m (%c)%n'

export const kafkaLog4j = {
  /** Kafka 4.x logs through log4j2. */
  server2: (file: string): string => `Configuration:
  Appenders:
    File:
      name: file
      fileName: "${file}"
      PatternLayout:
        pattern: "${pattern}"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
`,
  /** Kafka 3.x logs through reload4j (log4j 1 syntax). */
  server1: (file: string): string => `log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${file}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=${pattern}
`,
  tools2: `Configuration:
  Appenders:
    Console:
      name: stderr
      target: SYSTEM_ERR
      PatternLayout:
        pattern: "${pattern}"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: stderr
`,
  tools1: `log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=${pattern}
`,
}

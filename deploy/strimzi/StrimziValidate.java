// Validates Strimzi resources (kafka.strimzi.io) in rendered manifests against Strimzi's own API model
// (io.strimzi:api from Maven Central): each document is read into its model class (Kafka, KafkaNodePool,
// KafkaTopic, KafkaUser) with Jackson, which checks types, enums and the polymorphic `type` fields; a key the
// model does not know (Strimzi keeps those in additionalProperties) is an error, as kubeconform -strict does.
// Not checked: the CRDs' numeric bounds and patterns (no CRD schema is published to a registry).
// Run: java -cp '<libs>/*' StrimziValidate.java FILE...   Exit 1 when any resource is invalid.
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.File;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

public class StrimziValidate {
    static final Map<String, Class<?>> KINDS = Map.of(
        "Kafka", io.strimzi.api.kafka.model.kafka.Kafka.class,
        "KafkaNodePool", io.strimzi.api.kafka.model.nodepool.KafkaNodePool.class,
        "KafkaTopic", io.strimzi.api.kafka.model.topic.KafkaTopic.class,
        "KafkaUser", io.strimzi.api.kafka.model.user.KafkaUser.class);
    static final List<String> SERVED = List.of("kafka.strimzi.io/v1", "kafka.strimzi.io/v1beta2");

    public static void main(String[] args) throws Exception {
        YAMLMapper mapper = new YAMLMapper();
        mapper.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        mapper.enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
        mapper.enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS);
        mapper.enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);
        int valid = 0, invalid = 0;
        for (String file : args) {
            try (MappingIterator<JsonNode> docs = mapper.readerFor(JsonNode.class).readValues(new File(file))) {
                while (docs.hasNext()) {
                    JsonNode doc = docs.next();
                    if (doc == null || !doc.path("apiVersion").asText().startsWith("kafka.strimzi.io/")) continue;
                    String kind = doc.path("kind").asText();
                    String name = kind + " " + doc.path("metadata").path("name").asText();
                    List<String> problems = new ArrayList<>();
                    if (!SERVED.contains(doc.path("apiVersion").asText())) problems.add("apiVersion not served");
                    Class<?> type = KINDS.get(kind);
                    if (type == null) {
                        problems.add("unknown kind");
                    } else {
                        try {
                            Object resource = mapper.treeToValue(doc, type);
                            unknownKeys(resource, "", problems, new IdentityHashMap<>());
                            if (doc.path("spec").isMissingNode()) problems.add("no spec");
                        } catch (Exception e) {
                            problems.add(e.getMessage().split("\n")[0]);
                        }
                    }
                    if (problems.isEmpty()) {
                        valid++;
                    } else {
                        invalid++;
                        System.out.println(file + " - " + name + " is invalid: " + String.join("; ", problems));
                    }
                }
            }
        }
        System.out.println("Strimzi: " + (valid + invalid) + " resources - Valid: " + valid + ", Invalid: " + invalid);
        System.exit(invalid == 0 ? 0 : 1);
    }

    /** Every model object (Strimzi's and fabric8's) keeps keys it does not know in additionalProperties. */
    static void unknownKeys(Object node, String path, List<String> problems, Map<Object, Boolean> seen) throws Exception {
        if (node == null || seen.containsKey(node)) return;
        if (node instanceof Collection<?> items) {
            int i = 0;
            for (Object item : items) unknownKeys(item, path + "/" + i++, problems, seen);
            return;
        }
        String pkg = node.getClass().getPackageName();
        if (!pkg.startsWith("io.strimzi") && !pkg.startsWith("io.fabric8")) return;
        seen.put(node, true);
        try {
            Method extra = node.getClass().getMethod("getAdditionalProperties");
            Object keys = extra.invoke(node);
            if (keys instanceof Map<?, ?> m && !m.isEmpty()) problems.add(path + ": unknown keys " + m.keySet());
        } catch (NoSuchMethodException ignored) {
            // a model class without a place for unknown keys: Jackson already refused them
        }
        for (Class<?> c = node.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers()) || f.getName().equals("additionalProperties")) continue;
                if (f.getType().isPrimitive() || f.getType() == String.class || Map.class.isAssignableFrom(f.getType())) continue;
                f.setAccessible(true);
                unknownKeys(f.get(node), path + "/" + f.getName(), problems, seen);
            }
        }
    }
}

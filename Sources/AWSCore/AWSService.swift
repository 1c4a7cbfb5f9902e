/// What the client needs to know to address and sign requests for one AWS service.
public struct AWSService: Sendable, Equatable {
    /// The SDK service id (`Kinesis`, `SageMaker Runtime`); names the `AWS_ENDPOINT_URL_<ID>` variable.
    public var serviceID: String
    /// Credential-scope service name.
    public var signingName: String
    /// First labels of the default host, `<prefix>.<region>.amazonaws.com`.
    public var endpointPrefix: String
    /// Global services have one endpoint and sign with a fixed region (IAM: us-east-1).
    public var globalEndpoint: (host: String, signingRegion: String)?

    public init(
        serviceID: String, signingName: String, endpointPrefix: String,
        globalEndpoint: (host: String, signingRegion: String)? = nil
    ) {
        self.serviceID = serviceID
        self.signingName = signingName
        self.endpointPrefix = endpointPrefix
        self.globalEndpoint = globalEndpoint
    }

    public static func == (lhs: AWSService, rhs: AWSService) -> Bool {
        lhs.serviceID == rhs.serviceID && lhs.signingName == rhs.signingName && lhs.endpointPrefix == rhs.endpointPrefix
            && lhs.globalEndpoint?.host == rhs.globalEndpoint?.host
            && lhs.globalEndpoint?.signingRegion == rhs.globalEndpoint?.signingRegion
    }

    /// `AWS_ENDPOINT_URL_` + service id upper-cased with spaces (and dashes) as underscores.
    public var endpointEnvironmentVariable: String {
        "AWS_ENDPOINT_URL_" + serviceID.uppercased().map { $0 == " " || $0 == "-" ? "_" : String($0) }.joined()
    }

    public func signingRegion(_ region: String) -> String { globalEndpoint?.signingRegion ?? region }

    public static let kinesis = AWSService(serviceID: "Kinesis", signingName: "kinesis", endpointPrefix: "kinesis")
    public static let dynamoDB = AWSService(serviceID: "DynamoDB", signingName: "dynamodb", endpointPrefix: "dynamodb")
    public static let dynamoDBStreams = AWSService(
        serviceID: "DynamoDB Streams", signingName: "dynamodb", endpointPrefix: "streams.dynamodb")
    public static let sns = AWSService(serviceID: "SNS", signingName: "sns", endpointPrefix: "sns")
    public static let sqs = AWSService(serviceID: "SQS", signingName: "sqs", endpointPrefix: "sqs")
    public static let s3 = AWSService(serviceID: "S3", signingName: "s3", endpointPrefix: "s3")
    public static let sageMakerRuntime = AWSService(
        serviceID: "SageMaker Runtime", signingName: "sagemaker", endpointPrefix: "runtime.sagemaker")
    public static let secretsManager = AWSService(
        serviceID: "Secrets Manager", signingName: "secretsmanager", endpointPrefix: "secretsmanager")
    public static let cloudWatch = AWSService(serviceID: "CloudWatch", signingName: "monitoring", endpointPrefix: "monitoring")
    public static let sts = AWSService(serviceID: "STS", signingName: "sts", endpointPrefix: "sts")
    public static let iam = AWSService(
        serviceID: "IAM", signingName: "iam", endpointPrefix: "iam",
        globalEndpoint: (host: "iam.amazonaws.com", signingRegion: "us-east-1"))
}
